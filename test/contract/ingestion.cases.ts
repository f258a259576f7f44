/** IngestionStore contract: one result per turn (the first stays), one rolling summary per session. */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import { type IngestionResult, IngestionStore, type SessionSummary } from "../../src/ports/IngestionStore"
import type { StoreIt } from "./stores.contract"

const result = (tenantId: string, turnId: string, more: Partial<IngestionResult> = {}): IngestionResult => ({
  tenant_id: tenantId,
  turn_id: turnId,
  session_id: "s1",
  customer_id: "c1",
  completed_at: "2024-05-01T10:00:00.000Z",
  template: "entity-extraction@1",
  model: "model-a",
  extracted: 2,
  needs_review: 1,
  dropped: [{ name: "ghost", reason: "unknown_field" }],
  ...more
})

export const ingestionCases = (it: StoreIt, tenant: (label: string) => string) => {
  it.effect("ingestion: a turn's first result stays; completed names the turns that have one", () =>
    Effect.gen(function* () {
      const store = yield* IngestionStore
      const t = tenant("ingest")
      expect(yield* store.completed(t, [])).toEqual(new Set())
      yield* store.record([result(t, "turn-1")])
      yield* store.record([
        result(t, "turn-1", { model: "model-b", extracted: 0 }),
        result(tenant("other"), "turn-2")
      ])
      yield* store.record([])
      expect(yield* store.completed(t, ["turn-1", "turn-2", "turn-3"])).toEqual(new Set(["turn-1"]))
      expect(yield* store.result(t, "turn-1")).toEqual(result(t, "turn-1"))
      expect(yield* store.result(t, "turn-2")).toBeNull()
    })
  )

  it.effect("ingestion: a session's summary is replaced as it rolls forward", () =>
    Effect.gen(function* () {
      const store = yield* IngestionStore
      const t = tenant("summary")
      const first: SessionSummary = {
        tenant_id: t,
        session_id: "s1",
        customer_id: "c1",
        summary: "The customer asked about plans.",
        covers_turn_ids: ["turn-1"],
        through_turn_number: 1,
        template: "session-summary@1",
        model: "model-a",
        updated_at: "2024-05-01T10:00:00.000Z"
      }
      expect(yield* store.summary(t, "s1")).toBeNull()
      yield* store.saveSummary(first)
      const second = {
        ...first,
        summary: "The customer asked about plans and chose pro.",
        covers_turn_ids: ["turn-1", "turn-2"],
        through_turn_number: 2,
        updated_at: "2024-05-01T10:01:00.000Z"
      }
      yield* store.saveSummary(second)
      expect(yield* store.summary(t, "s1")).toEqual(second)
      expect(yield* store.summary(t, "s2")).toBeNull()
    })
  )
}
