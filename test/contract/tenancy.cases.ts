/** Tenancy contract (DESIGN 3.7): the same session and customer ids in two tenants never mix. */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import { AuditStore } from "../../src/ports/AuditStore"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { SessionStore } from "../../src/ports/SessionStore"
import { historyEntry, profileField, sessionRecord, sessionState, turnRecord } from "./fixtures"
import type { StoreIt } from "./stores.contract"

export const tenancyCases = (it: StoreIt, tenant: (label: string) => string) => {
  it.effect("tenancy: two tenants with the same session and customer ids see only their own rows", () =>
    Effect.gen(function* () {
      const sessions = yield* SessionStore
      const profiles = yield* ProfileStore
      const audit = yield* AuditStore
      const a = tenant("tenant-a")
      const b = tenant("tenant-b")

      const sessionA = sessionRecord(sessionState(a, "shared", { version: 3 }))
      const sessionB = sessionRecord(sessionState(b, "shared", { version: 1 }))
      yield* sessions.save([sessionA, sessionB])
      expect(yield* sessions.load(a, "shared")).toEqual(sessionA)
      expect(yield* sessions.load(b, "shared")).toEqual(sessionB)
      expect(yield* sessions.list({ tenantId: b })).toEqual([sessionB])

      const fieldA = profileField({
        tenant: a,
        name: "email",
        value: "a@x",
        at: "2024-05-02T00:00:00Z",
        turn: "t1"
      })
      const fieldB = profileField({
        tenant: b,
        name: "email",
        value: "b@x",
        at: "2024-05-01T00:00:00Z",
        turn: "t1"
      })
      yield* profiles.writeFields([fieldA, fieldB])
      expect((yield* profiles.loadCustomer(b, "cust-1", 5)).active).toEqual([fieldB])
      expect(yield* profiles.list({ tenantId: a, includeHistory: true })).toEqual([fieldA])
      expect(yield* profiles.expireCase(b, "cust-1", "none")).toEqual([])
      expect(
        yield* Effect.flip(
          profiles.deleteItem(b, "cust-1:other:t1", {
            by: "ops",
            reason: "test",
            at: new Date(),
            cascade: true
          })
        )
      ).toMatchObject({
        reason: "not_found"
      })

      const recordA = turnRecord(a, "shared", 1)
      const recordB = turnRecord(b, "shared", 1, { hash: "b-hash" })
      yield* audit.append([recordA, recordB], [historyEntry(a, "shared", 1), historyEntry(b, "shared", 1)])
      expect(yield* audit.listRecords({ tenantId: b, sessionId: "shared" })).toEqual([recordB])
      expect(yield* audit.listHistory({ tenantId: a })).toEqual([historyEntry(a, "shared", 1)])
      expect([...(yield* audit.recordedTurns(b, [recordA.turn_id]))]).toEqual([recordA.turn_id])
    })
  )
}
