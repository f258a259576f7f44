/** QuarantineStore contract: parked events in order with their bytes; resolutions; look-ups. */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import { type ParkedEvent, QuarantineStore } from "../../src/ports/QuarantineStore"
import type { StoreIt } from "./stores.contract"

const parked = (
  tenant: string,
  session: string,
  offset: number,
  extra: Partial<ParkedEvent> = {}
): ParkedEvent => ({
  tenant_id: tenant,
  session_id: session,
  customer_id: "c1",
  event_id: `e-${offset}`,
  turn_id: `turn-${offset}`,
  topic: "by-customer",
  partition: 2,
  offset: String(offset),
  key: '["t","c1"]',
  // not UTF-8, and a NUL: bytes are kept exactly
  value: Buffer.from([0x7b, 0x00, 0xff, offset]),
  headers: { source_topic: "in", source_offset: String(offset) },
  reason: "session_quarantined",
  error: "an earlier event of the session is parked",
  ...extra
})

export const quarantineCases = (it: StoreIt, tenant: (label: string) => string) => {
  it.effect("quarantine: parked events keep their order and bytes; sessions lists what is still parked", () =>
    Effect.gen(function* () {
      const store = yield* QuarantineStore
      const t = tenant("quarantine")
      yield* store.park([
        parked(t, "s1", 10, { reason: "store_refused", error: "SQLSTATE 22P05: refused" }),
        parked(t, "s1", 12),
        parked(t, "s2", 11, {
          reason: "apply_failed",
          error: "defect: TypeError",
          turn_id: null,
          partition: 3
        })
      ])
      yield* store.park([parked(t, "s1", 15)])
      const events = yield* store.events(t, "s1")
      expect(events.map((e) => [e.offset, e.reason, e.status, e.resolved_by])).toEqual([
        ["10", "store_refused", "parked", null],
        ["12", "session_quarantined", "parked", null],
        ["15", "session_quarantined", "parked", null]
      ])
      expect(events.map((e) => BigInt(e.seq))).toEqual(
        [...events.map((e) => BigInt(e.seq))].sort((a, b) => (a < b ? -1 : 1))
      )
      expect(events[0]!.value.equals(Buffer.from([0x7b, 0x00, 0xff, 10]))).toBe(true)
      expect(events[0]).toMatchObject({
        key: '["t","c1"]',
        headers: { source_topic: "in", source_offset: "10" }
      })
      expect(Number.isNaN(Date.parse(events[0]!.parked_at))).toBe(false)

      const sessions = yield* store.sessions({ tenantId: t })
      expect(sessions.map((s) => [s.session_id, s.events, s.reason, s.error, s.partition])).toEqual([
        ["s1", 3, "store_refused", "SQLSTATE 22P05: refused", 2],
        ["s2", 1, "apply_failed", "defect: TypeError", 3]
      ])
      expect(
        (yield* store.sessions({ tenantId: t, topic: "by-customer", partition: 3 })).map((s) => s.session_id)
      ).toEqual(["s2"])
      expect(yield* store.sessions({ tenantId: t, topic: "elsewhere" })).toEqual([])
      expect(yield* store.sessions({ tenantId: tenant("nobody") })).toEqual([])
    })
  )

  it.effect(
    "quarantine: a resolution marks the named events once; resolvedBy and parkedOffsets find them",
    () =>
      Effect.gen(function* () {
        const store = yield* QuarantineStore
        const t = tenant("resolve")
        yield* store.park([parked(t, "s1", 20), parked(t, "s1", 21), parked(t, "s2", 22)])
        const seqs = (yield* store.events(t, "s1")).map((e) => e.seq)
        const by = `${t}/by-customer/2/99`
        yield* store.resolve([{ tenant_id: t, session_id: "s1", seqs, status: "released", by }])
        // a second resolution of the same events changes nothing: they are no longer parked
        yield* store.resolve([{ tenant_id: t, session_id: "s1", seqs, status: "dropped", by: "later" }])
        expect((yield* store.events(t, "s1")).map((e) => [e.status, e.resolved_by])).toEqual([
          ["released", by],
          ["released", by]
        ])
        expect((yield* store.resolvedBy(by)).map((e) => e.offset)).toEqual(["20", "21"])
        expect(yield* store.resolvedBy("later")).toEqual([])
        expect((yield* store.sessions({ tenantId: t })).map((s) => s.session_id)).toEqual(["s2"])
        // offsets stay known as parked, whatever became of them
        const offsets = yield* store.parkedOffsets("by-customer", 2, ["20", "22", "23"])
        expect([...offsets].sort()).toEqual(["20", "22"])
        expect((yield* store.parkedOffsets("by-customer", 5, ["20"])).size).toBe(0)
      })
  )
}
