/** AuditStore contract: append-only, replay-safe, ordered reads. */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import { AuditStore } from "../../src/ports/AuditStore"
import { historyEntry, turnRecord } from "./fixtures"
import type { StoreIt } from "./stores.contract"

export const auditCases = (it: StoreIt, tenant: (label: string) => string) => {
  it.effect("audit: records are skipped by (tenant, turn_id) and listed by session then turn_number", () =>
    Effect.gen(function* () {
      const audit = yield* AuditStore
      const t = tenant("audit-records")
      const r1 = turnRecord(t, "s1", 1, { case_id: "c-7", canonical_intent: "billing" })
      const r2 = turnRecord(t, "s1", 2, { prev_hash: "hash-1" })
      const r3 = turnRecord(t, "s0", 9)
      yield* audit.append([r2, r3], [])
      yield* audit.append([r1, { ...r2, hash: "tampered" }], [])
      expect(yield* audit.listRecords({ tenantId: t })).toEqual([r3, r1, r2])
      expect(yield* audit.listRecords({ tenantId: t, sessionId: "s1" })).toEqual([r1, r2])
      const recorded = yield* audit.recordedTurns(t, [r1.turn_id, "unknown", r3.turn_id])
      expect([...recorded].sort()).toEqual([r3.turn_id, r1.turn_id].sort())
      expect(yield* audit.recordedTurns(t, [])).toEqual(new Set())
      // the first record written wins: a replayed, different record never replaces it
      const found = yield* audit.findRecords(t, [r2.turn_id, "unknown"])
      expect(found).toEqual([r2])
      expect(yield* audit.findRecords("another-tenant", [r2.turn_id])).toEqual([])
    })
  )

  it.effect("audit: ledger entries are skipped by (tenant, session, seq) and listed by seq", () =>
    Effect.gen(function* () {
      const audit = yield* AuditStore
      const t = tenant("audit-history")
      const e1 = historyEntry(t, "s1", 1)
      const e2 = historyEntry(t, "s1", 2, { to_status: "ENDED", reason: "ENDED", turn_id: null })
      const e3 = historyEntry(t, "s1", 3, { from_status: "ENDED", to_status: "ACTIVE", actor: "reopen" })
      yield* audit.append([], [e3, e1])
      yield* audit.append([], [e2, { ...e1, reason: "rewritten" }, e2])
      expect(yield* audit.listHistory({ tenantId: t, sessionId: "s1" })).toEqual([e1, e2, e3])
      expect(yield* audit.listHistory({ tenantId: t, sessionId: "other" })).toEqual([])
    })
  )
}
