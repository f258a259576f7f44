/**
 * A batch that fails midway leaves nothing behind in memory: its profile changes never became
 * durable, so no resident snapshot may keep them (not even one held by an untouched session of the
 * same customer). Its retry recomputes from the stores.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Ref, Schema } from "effect"
import { FieldDefinitions, TurnEvent } from "../../schemas"
import { AuditStore, AuditStoreError } from "../../src/ports/AuditStore"
import { MemoryStoresLive } from "../../src/adapters/embedded"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { def, turn } from "../support/events"
import { embeddedPipeline, processEvents } from "../support/pipeline"

const decode = Schema.decodeUnknownSync(TurnEvent)
const defs = Schema.decodeUnknownSync(FieldDefinitions)([
  def("plan", "enum", "BUSINESS", { validation: { allowed_values: ["basic", "pro"] } })
])

/** Memory stores whose audit look-up fails while `down` is set. */
const flakyAudit = (down: Ref.Ref<boolean>) =>
  Layer.effect(
    AuditStore,
    Effect.map(AuditStore, (store) => ({
      ...store,
      recordedTurns: (tenantId: string, turnIds: ReadonlyArray<string>) =>
        Effect.flatMap(Ref.get(down), (isDown) =>
          isDown
            ? Effect.fail(new AuditStoreError({ operation: "recordedTurns", cause: "injected" }))
            : store.recordedTurns(tenantId, turnIds)
        )
    }))
  ).pipe(Layer.provideMerge(MemoryStoresLive))

describe("a failed batch", () => {
  it.effect("does not leave its profile changes in a snapshot another resident session holds", () =>
    Effect.gen(function* () {
      const down = yield* Ref.make(false)
      yield* Effect.gen(function* () {
        yield* (yield* ProfileStore).upsertDefinitions(defs)
        // s3 and s4: resident sessions of customer c1
        yield* processEvents([
          decode(turn({ session: "s3", turn: 1 })),
          decode(turn({ session: "s4", turn: 1 }))
        ])
        // s1 sets plan = pro, then a late turn of s3 needs the audit store, which fails
        const batch = [
          decode(turn({ session: "s1", turn: 1, vars: { plan: "pro" } })),
          decode(turn({ session: "s3", turn: 1, turnId: "late-s3" }))
        ]
        yield* Ref.set(down, true)
        const failed = yield* Effect.either(processEvents(batch))
        expect(failed._tag).toBe("Left")
        expect(yield* (yield* ProfileStore).list({})).toEqual([])
        // the retry recomputes from the stores: the change is persisted, not "unchanged"
        yield* Ref.set(down, false)
        const results = yield* processEvents(batch)
        expect(results.map((r) => r.kind)).toEqual(["applied", "out_of_order"])
        const first = results[0]
        expect(first?.kind === "applied" && first.record?.customer_data_updates).toEqual([
          { field_name: "plan", scope: "BUSINESS", is_update: false, status: "persisted" }
        ])
      }).pipe(Effect.provide(embeddedPipeline({}, flakyAudit(down))))
    })
  )
})
