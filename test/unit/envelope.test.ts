/** Sealed values and erasure receipts (decision 0019): what opens, what does not, what a receipt chain shows. */
import { describe, expect, it } from "vitest"
import { nextReceipt, receiptProblems } from "../../src/domain/erasure"
import {
  isSealed,
  newDataKey,
  openValue,
  parseKek,
  sealValue,
  secretKey,
  unwrapKey,
  valueBinding,
  wrapKey
} from "../../src/domain/envelope"

describe("sealed values", () => {
  const raw = newDataKey()
  const key = secretKey(raw)
  const binding = valueBinding("t1", "c1", "email")

  it("open what they sealed, whatever JSON the value is; the ciphertext differs every time", () => {
    for (const value of ["ada@example.com", 42, { street: "Main 1" }, ["a"], null, true]) {
      const sealed = sealValue(key, 3, binding, value)
      expect(isSealed(sealed)).toBe(true)
      expect(sealed.k).toBe(3)
      expect(openValue(key, binding, sealed)).toEqual(value)
    }
    // "@" is not in base64: the plaintext cannot hide in the ciphertext by chance
    expect(JSON.stringify(sealValue(key, 1, binding, "ada@example.com"))).not.toContain("@")
    expect(sealValue(key, 1, binding, "x").d).not.toBe(sealValue(key, 1, binding, "x").d)
  })

  it("do not open with another key, on another customer's or field's row, or once edited", () => {
    const sealed = sealValue(key, 1, binding, "ada@example.com")
    expect(openValue(secretKey(newDataKey()), binding, sealed)).toBeUndefined()
    expect(openValue(key, valueBinding("t1", "c2", "email"), sealed)).toBeUndefined()
    expect(openValue(key, valueBinding("t1", "c1", "phone"), sealed)).toBeUndefined()
    const bytes = Buffer.from(sealed.d, "base64")
    bytes[bytes.length - 1]! ^= 1
    expect(openValue(key, binding, { ...sealed, d: bytes.toString("base64") })).toBeUndefined()
  })

  it("a plain value that merely looks like one is not taken for sealed", () => {
    expect(isSealed({ $sealed: "v1" })).toBe(false)
    expect(isSealed("tv1:abc")).toBe(false)
    expect(isSealed({ $sealed: "v2", k: 1, d: "" })).toBe(false)
  })

  it("data keys wrapped under the key-encryption key unwrap only for their customer", () => {
    const kek = secretKey(newDataKey())
    const wrapped = wrapKey(kek, "t1", "c1", raw)
    expect(unwrapKey(kek, "t1", "c1", wrapped)).toEqual(raw)
    expect(unwrapKey(kek, "t1", "c2", wrapped)).toBeNull()
    expect(unwrapKey(kek, "t2", "c1", wrapped)).toBeNull()
    expect(unwrapKey(secretKey(newDataKey()), "t1", "c1", wrapped)).toBeNull()
  })

  it("TURNVAULT_KEK is 32 bytes of base64", () => {
    expect(parseKek(newDataKey().toString("base64")).symmetricKeySize).toBe(32)
    expect(() => parseKek(Buffer.alloc(16).toString("base64"))).toThrow(/32 bytes/)
  })
})

describe("erasure receipts", () => {
  const request = (customer: string) => ({
    tenant_id: "t1",
    customer_id: customer,
    erased_at: "2026-12-07T10:00:00.000Z",
    erased_by: "dpo@example.com",
    reason: "art. 17 request"
  })
  const chain = () => {
    const first = nextReceipt(null, request("c1"), [2, 1])
    const second = nextReceipt(first, request("c2"), [])
    const third = nextReceipt(second, request("c3"), [1])
    return [first, second, third]
  }

  it("are numbered and chained per tenant, and verify clean", () => {
    const receipts = chain()
    expect(receipts.map((r) => [r.seq, r.prev_hash === null])).toEqual([
      [1, true],
      [2, false],
      [3, false]
    ])
    expect(receipts[0]!.key_versions).toEqual([1, 2])
    expect(receiptProblems(receipts)).toEqual([])
  })

  it("an edited, deleted or inserted receipt shows", () => {
    const [a, b, c] = chain() as [
      ReturnType<typeof nextReceipt>,
      ReturnType<typeof nextReceipt>,
      ReturnType<typeof nextReceipt>
    ]
    expect(receiptProblems([a, { ...b, erased_by: "mallory" }, c])[0]).toContain("changed")
    expect(receiptProblems([a, c]).join()).toMatch(/seq 2 was expected.*prev_hash/)
    const forged = nextReceipt(a, request("c9"), [])
    expect(receiptProblems([a, forged, b, c]).length).toBeGreaterThan(0)
  })
})
