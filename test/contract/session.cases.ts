/** SessionStore contract: exact round-trip, batch loads, and saves as upserts (the last record wins). */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import type { DataEntry } from "../../src/domain/model"
import { SessionStore } from "../../src/ports/SessionStore"
import { UnitOfWork } from "../../src/ports/UnitOfWork"
import { sessionRecord, sessionState } from "./fixtures"
import type { StoreIt } from "./stores.contract"

const nested: DataEntry = {
  value: { street: "Rue de l'Église 3", tags: ["vip", 42, true, null], geo: { lat: 46.2, lng: 6.14 } },
  source: "TOOL",
  confidence: 0.75,
  updated_at: "2024-05-01T10:00:00.123+02:00",
  source_item_id: "turn-1",
  scope: "SESSION",
  history: [
    {
      value: "old",
      source: "USER",
      confidence: 1,
      updated_at: "2024-04-30T09:00:00Z",
      source_item_id: "turn-0"
    }
  ],
  validation_error: "not in allowed_values"
}

export const sessionCases = (it: StoreIt, tenant: (label: string) => string) => {
  it.effect("session: save then load returns exactly what was written, nested variables included", () =>
    Effect.gen(function* () {
      const store = yield* SessionStore
      const t = tenant("session-roundtrip")
      const state = sessionState(t, "s1", {
        version: 2,
        turn_count: 2,
        variables: { address: nested },
        ended_event_ids: ["evt-1", "evt-2"]
      })
      const record = sessionRecord(state)
      yield* store.save([record])
      expect(yield* store.load(t, "s1")).toEqual(record)
      expect(yield* store.load(t, "missing")).toBeNull()
    })
  )

  it.effect("session: loadMany answers what load answers, one per id in order, twice the same", () =>
    Effect.gen(function* () {
      const store = yield* SessionStore
      const t = tenant("session-load-many")
      const other = tenant("session-load-many-other")
      const a = sessionRecord(sessionState(t, "a", { version: 3, variables: { address: nested } }))
      const b = sessionRecord(sessionState(t, "b", { version: 1 }))
      const elsewhere = sessionRecord(sessionState(other, "a", { version: 5 }))
      yield* store.save([a, b, elsewhere])
      const ids = [
        { tenant_id: t, session_id: "b" },
        { tenant_id: t, session_id: "missing" },
        { tenant_id: other, session_id: "a" },
        { tenant_id: t, session_id: "a" },
        { tenant_id: t, session_id: "b" }
      ]
      const expected = [b, null, elsewhere, a, b]
      // the second time from the cache, where there is one
      expect(yield* store.loadMany(ids)).toEqual(expected)
      expect(yield* store.loadMany(ids)).toEqual(expected)
      for (const [i, id] of ids.entries())
        expect(yield* store.load(id.tenant_id, id.session_id)).toEqual(expected[i])
      expect(yield* store.loadMany([])).toEqual([])
      // a save after the loads is what the next loadMany sees
      const a2 = sessionRecord(sessionState(t, "a", { version: 4 }))
      yield* store.save([a2])
      expect(yield* store.loadMany([ids[3]!, ids[0]!])).toEqual([a2, b])
    })
  )

  it.effect("session: save replaces the stored record, and a batch's last record of a session wins", () =>
    Effect.gen(function* () {
      const store = yield* SessionStore
      const t = tenant("session-batch")
      const v1 = sessionRecord(sessionState(t, "a", { version: 1 }))
      const v2 = sessionRecord(sessionState(t, "a", { version: 2 }))
      const other = sessionRecord(sessionState(t, "b", { version: 5 }))
      yield* store.save([v1, other, v2])
      expect(yield* store.load(t, "a")).toEqual(v2)
      expect(yield* store.load(t, "b")).toEqual(other)
      // no version check: fencing a stale owner is the partition claim's job, not the session row's
      const rewritten = sessionRecord(sessionState(t, "a", { version: 1, gaps: 9 }))
      yield* store.save([rewritten])
      expect(yield* store.load(t, "a")).toEqual(rewritten)
      yield* store.save([])
      expect(yield* store.loadMany([{ tenant_id: t, session_id: "a" }])).toEqual([rewritten])
    })
  )

  it.effect("session: list filters and orders by tenant then session", () =>
    Effect.gen(function* () {
      const store = yield* SessionStore
      const t = tenant("session-list")
      yield* store.save(["s3", "s1", "s2"].map((id) => sessionRecord(sessionState(t, id))))
      const all = yield* store.list({ tenantId: t })
      expect(all.map((record) => record.state.session_id)).toEqual(["s1", "s2", "s3"])
      const one = yield* store.list({ tenantId: t, sessionId: "s2" })
      expect(one.map((record) => record.state.session_id)).toEqual(["s2"])
    })
  )

  it.effect("unit of work: run returns the effect's value and its writes are visible afterwards", () =>
    Effect.gen(function* () {
      const store = yield* SessionStore
      const uow = yield* UnitOfWork
      const t = tenant("uow")
      const record = sessionRecord(sessionState(t, "s1"))
      yield* uow.run(store.save([record]))
      expect(yield* store.load(t, "s1")).toEqual(record)
    })
  )
}
