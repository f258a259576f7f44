/**
 * CustomerKeys contract (decision 0019): one live data key per customer, made once and found by
 * version; erasure destroys every version at once with a chained receipt, and the customer's next
 * key is a fresh version.
 */
import { expect } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { receiptProblems } from "../../src/domain/erasure"
import { AuditStore } from "../../src/ports/AuditStore"
import { CustomerKeys, customerKeyOf, versionKeyOf } from "../../src/ports/CustomerKeys"
import type { StoreIt } from "./stores.contract"

export const customerKeyCases = (it: StoreIt, tenant: (label: string) => string) => {
  it.effect("customer keys: made once per customer, the same key found by version, customers apart", () =>
    Effect.gen(function* () {
      const keys = yield* CustomerKeys
      const t = tenant("keys")
      const a = { tenant_id: t, customer_id: "a" }
      const b = { tenant_id: t, customer_id: "b" }
      const first = yield* keys.live([a, b, a])
      expect(first.size).toBe(2)
      expect(first.get(customerKeyOf(a))!.version).toBe(1)
      expect(first.get(customerKeyOf(a))!.key.length).toBe(32)
      expect(first.get(customerKeyOf(a))!.key.equals(first.get(customerKeyOf(b))!.key)).toBe(false)
      const again = yield* keys.live([a])
      expect(again.get(customerKeyOf(a))).toEqual(first.get(customerKeyOf(a)))
      const found = yield* keys.find([
        { ...a, version: 1 },
        { ...b, version: 1 },
        { ...a, version: 7 }
      ])
      expect([...found.keys()].sort()).toEqual([versionKeyOf(a, 1), versionKeyOf(b, 1)].sort())
      expect(found.get(versionKeyOf(a, 1))).toEqual(first.get(customerKeyOf(a))!.key)
    })
  )

  it.effect("customer keys: erasure destroys every version with a chained receipt; the next key is new", () =>
    Effect.gen(function* () {
      const keys = yield* CustomerKeys
      const t = tenant("erase")
      const a = { tenant_id: t, customer_id: "a" }
      const b = { tenant_id: t, customer_id: "b" }
      const before = (yield* keys.live([a, b])).get(customerKeyOf(a))!
      const request = (customer: string) => ({
        tenant_id: t,
        customer_id: customer,
        erased_at: "2026-12-07T10:00:00.000Z",
        erased_by: "dpo",
        reason: "request"
      })
      const receipt = yield* keys.erase(request("a"))
      expect(receipt).toMatchObject({ seq: 1, customer_id: "a", key_versions: [1], prev_hash: null })
      expect((yield* keys.find([{ ...a, version: 1 }])).size).toBe(0)
      // the other customer keeps its key
      expect((yield* keys.find([{ ...b, version: 1 }])).size).toBe(1)
      const after = (yield* keys.live([a])).get(customerKeyOf(a))!
      expect(after.version).toBe(2)
      expect(after.key.equals(before.key)).toBe(false)
      // a customer with no key is erased too (a receipt, no versions); receipts chain per tenant
      const second = yield* keys.erase(request("never-sealed"))
      expect(second).toMatchObject({ seq: 2, key_versions: [], prev_hash: receipt.hash })
      const third = yield* keys.erase(request("a"))
      expect(third.key_versions).toEqual([2])
      const listed = yield* keys.receipts(t)
      expect(listed).toEqual([receipt, second, third])
      expect(receiptProblems(listed)).toEqual([])
      expect((yield* keys.receipts()).filter((r) => r.tenant_id === t)).toEqual(listed)
    })
  )

  it.effect("customer keys: receipt heads of the tenants with a receipt written since an instant", () =>
    Effect.gen(function* () {
      const keys = yield* CustomerKeys
      const quiet = tenant("heads-quiet")
      const busy = tenant("heads-busy")
      const request = (t: string, customer: string) => ({
        tenant_id: t,
        customer_id: customer,
        erased_at: "2026-12-07T10:00:00.000Z",
        erased_by: "dpo",
        reason: "request"
      })
      const a = yield* keys.erase(request(quiet, "a"))
      yield* keys.erase(request(busy, "a"))
      const mine = (heads: ReadonlyArray<{ tenant_id: string }>) =>
        heads.filter((h) => h.tenant_id === quiet || h.tenant_id === busy)
      expect(mine(yield* keys.receiptHeads(null))).toContainEqual({
        kind: "erasures",
        tenant_id: quiet,
        receipts: 1,
        receipt_head: a.hash
      })
      yield* Effect.zipRight(
        Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 30))),
        TestClock.adjust("1 second")
      )
      // the store's own clock (the database's, or the test clock): where the audit store cuts
      const { cut: since } = yield* Effect.flatMap(AuditStore, (audit) => audit.chainHeads(null))
      yield* Effect.zipRight(
        Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 30))),
        TestClock.adjust("1 second")
      )
      const b = yield* keys.erase(request(busy, "b"))
      expect(mine(yield* keys.receiptHeads(since))).toEqual([
        { kind: "erasures", tenant_id: busy, receipts: 2, receipt_head: b.hash }
      ])
    })
  )
}
