/**
 * The sealing decorator (decision 0019), in simulated time: PII values are ciphertext in the store
 * beneath and values above it; an erased customer's values read as null once the cached key is
 * stale; the next value of that customer is sealed under a fresh key.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { memoryStoresWith } from "../../src/adapters/embedded"
import { secretKey } from "../../src/domain/envelope"
import { isSealed } from "../../src/domain/envelope"
import { CustomerKeys } from "../../src/ports/CustomerKeys"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { IngestionStore } from "../../src/ports/IngestionStore"
import { make, makeSealedSummaries } from "../../src/privacy/SealedProfileStore"
import { profileField } from "../contract/fixtures"

const KEK = secretKey(Buffer.alloc(32, 3))
const options = { cacheSize: 100, cacheTtlMs: 30_000 }
const at = (minute: number) => `2026-12-07T10:${String(minute).padStart(2, "0")}:00.000Z`
const email = (customer: string, turn: string, value: string, minute: number) => ({
  ...profileField({ tenant: "t1", customer, name: "email", value, turn, at: at(minute), scope: "IDENTITY" }),
  pii: true as const
})
const plan = (customer: string, minute: number) =>
  profileField({
    tenant: "t1",
    customer,
    name: "plan",
    value: "pro",
    turn: `${customer}-plan`,
    at: at(minute)
  })

const erase = (customer: string) =>
  Effect.flatMap(CustomerKeys, (keys) =>
    keys.erase({
      tenant_id: "t1",
      customer_id: customer,
      erased_at: at(30),
      erased_by: "dpo",
      reason: "request"
    })
  )

describe("SealedProfileStore", () => {
  it.effect("PII values are sealed beneath and open above; other values pass through", () =>
    Effect.gen(function* () {
      const inner = yield* ProfileStore
      const sealed = yield* make(options)
      yield* sealed.writeFields([email("c1", "turn-1", "ada@example.com", 1), plan("c1", 1)])
      const beneath = yield* inner.list({ tenantId: "t1" })
      expect(beneath.find((r) => r.name === "email")!.value).toSatisfy(isSealed)
      expect(JSON.stringify(beneath)).not.toContain("ada@example.com")
      expect(beneath.find((r) => r.name === "plan")!.value).toBe("pro")
      const above = yield* sealed.loadCustomer("t1", "c1", 5)
      expect(above.active.map((r) => [r.name, r.value, r.pii])).toEqual([
        ["email", "ada@example.com", true],
        ["plan", "pro", undefined]
      ])
      expect((yield* sealed.fieldHistory("t1", "c1", "email"))[0]!.value).toBe("ada@example.com")
      // the batch path seals too
      yield* sealed.applyOps([{ kind: "write", rows: [email("c1", "turn-2", "ada@new.example", 2)] }])
      expect((yield* inner.list({ tenantId: "t1", includeHistory: true })).map((r) => r.value)).not.toContain(
        "ada@new.example"
      )
      expect((yield* sealed.loadCustomer("t1", "c1", 5)).active.find((r) => r.name === "email")!.value).toBe(
        "ada@new.example"
      )
    }).pipe(Effect.provide(memoryStoresWith(KEK)))
  )

  it.effect("an erased customer's values read as null once the cached key is stale; others still open", () =>
    Effect.gen(function* () {
      const sealed = yield* make(options)
      yield* sealed.writeFields([
        email("c1", "turn-1", "ada@example.com", 1),
        email("c2", "turn-2", "bob@example.com", 1)
      ])
      const value = (customer: string) =>
        Effect.map(sealed.loadCustomer("t1", customer, 5), (p) => p.active[0]?.value)
      expect(yield* value("c1")).toBe("ada@example.com")
      yield* erase("c1")
      // this instance's key cache still holds the key until its time to live runs out
      expect(yield* value("c1")).toBe("ada@example.com")
      yield* TestClock.adjust("31 seconds")
      expect(yield* value("c1")).toBeNull()
      expect(yield* value("c2")).toBe("bob@example.com")
      // the customer's next value gets a fresh key, and opens
      yield* sealed.writeFields([email("c1", "turn-3", "ada@fresh.example", 40)])
      expect(yield* value("c1")).toBe("ada@fresh.example")
      const history = yield* sealed.fieldHistory("t1", "c1", "email")
      expect(history.map((r) => r.value)).toEqual(["ada@fresh.example", null])
    }).pipe(Effect.provide(memoryStoresWith(KEK)))
  )

  it.effect("keys are asked for once per batch of customers, not per field", () =>
    Effect.gen(function* () {
      const keys = yield* CustomerKeys
      let calls = 0
      const counting = {
        ...keys,
        live: (c: Parameters<typeof keys.live>[0]) => {
          calls++
          return keys.live(c)
        }
      }
      const sealed = yield* make(options).pipe(Effect.provideService(CustomerKeys, counting))
      const rows = Array.from({ length: 20 }, (_, i) => email(`c${i % 4}`, `turn-${i}`, `v${i}@x`, i))
      yield* sealed.writeFields(rows)
      yield* sealed.writeFields(
        rows.map((r) => ({ ...r, id: `${r.id}-again`, source_item_id: `${r.source_item_id}-again` }))
      )
      expect(calls).toBe(1)
    }).pipe(Effect.provide(memoryStoresWith(KEK)))
  )

  it.effect("session summaries are sealed beneath, open above, and open to null once erased", () =>
    Effect.gen(function* () {
      const inner = yield* IngestionStore
      const sealed = yield* makeSealedSummaries(options)
      const summary = {
        tenant_id: "t1",
        session_id: "s1",
        customer_id: "c1",
        summary: "Ada asked to move her plan to pro.",
        covers_turn_ids: ["turn-1"],
        through_turn_number: 1,
        template: "session-summary@1",
        model: "m",
        updated_at: at(1)
      }
      yield* sealed.saveSummary(summary)
      const beneath = (yield* inner.summary("t1", "s1"))!
      expect(beneath.summary).not.toContain("Ada asked")
      expect(beneath.summary.startsWith("\u0001sealed:v1:")).toBe(true)
      expect(yield* sealed.summary("t1", "s1")).toEqual(summary)
      yield* erase("c1")
      yield* TestClock.adjust("31 seconds")
      expect(yield* sealed.summary("t1", "s1")).toBeNull()
    }).pipe(Effect.provide(memoryStoresWith(KEK)))
  )
})
