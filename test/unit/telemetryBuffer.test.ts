/** The telemetry buffer never blocks a batch: what fits is queued and published, the rest is counted as dropped. */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Ref } from "effect"
import type { TelemetryEntry } from "../../schemas"
import { Metrics } from "../../src/observability/Metrics"
import { TelemetryBuffer } from "../../src/observability/TelemetryBuffer"
import { type OutputMessage, OutputSink } from "../../src/ports/OutputSink"

const entry = (i: number): TelemetryEntry => ({
  kind: "turn",
  tenant_id: "t1",
  session_id: `s${i}`,
  turn_id: `turn-${i}`,
  recorded_at: "2026-01-01T00:00:00.000Z",
  duration_ms: 1,
  resolution: "RESOLVED"
})

describe("TelemetryBuffer.recordAll", () => {
  it.effect("queues what fits in one offer and counts the rest as dropped", () =>
    Effect.gen(function* () {
      const published = yield* Ref.make<ReadonlyArray<OutputMessage>>([])
      const done = yield* Deferred.make<void>()
      const sink = Layer.succeed(OutputSink, {
        publish: (messages) =>
          Ref.updateAndGet(published, (all) => [...all, ...messages]).pipe(
            Effect.flatMap((all) => (all.length >= 3 ? Deferred.succeed(done, undefined) : Effect.void)),
            Effect.asVoid
          )
      })
      const dropped = yield* Effect.gen(function* () {
        const buffer = yield* TelemetryBuffer
        const metrics = yield* Metrics
        yield* buffer.recordAll([1, 2, 3, 4, 5].map(entry))
        yield* Deferred.await(done)
        return (yield* Effect.promise(() => metrics.telemetryDropped.get())).values[0]?.value
      }).pipe(
        Effect.provide(
          TelemetryBuffer.layer({ capacity: 3, flushChunk: 10, topic: "telemetry" }).pipe(
            Layer.provideMerge(Layer.merge(sink, Metrics.layerTest))
          )
        ),
        Effect.scoped
      )
      expect((yield* Ref.get(published)).map((m) => m.key)).toEqual(["s1", "s2", "s3"])
      expect(dropped).toBe(2)
    })
  )
})
