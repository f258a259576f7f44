/**
 * Telemetry buffer (src/observability/TelemetryBuffer.ts, configured as src/app/layers.ts does):
 *   record rate: `record` called in a tight loop inside one fiber, the drain running against a
 *     no-op sink; reports calls/s, accepted and dropped;
 *   flush rate: N entries recorded into a buffer large enough to hold them, drained by the real
 *     Kafka sink (idempotent producer, acks=all) to the run's telemetry topic; entries/s until the
 *     last one is acknowledged.
 */
import { Context, Effect, Layer, Ref } from "effect"
import { kafkaClientLayer } from "../../src/app/layers"
import { KafkaSinkLive } from "../../src/adapters/kafka/KafkaSink"
import { OutputSink } from "../../src/ports/OutputSink"
import { TelemetryBuffer } from "../../src/observability/TelemetryBuffer"
import { Metrics } from "../../src/observability/Metrics"
import { topicNames } from "../../streams/topics"
import { load, round, scenarioArgs, wallMs, writeResult } from "../lib/measure"

const args = scenarioArgs({ brokers: [] as Array<string>, prefix: "", records: 200_000, flush: 50_000 })
const topic = topicNames(args.prefix).telemetry
const entry = (i: number) => ({
  kind: "turn" as const,
  tenant_id: "tenant-1",
  session_id: `sess-${i % 2_000}`,
  turn_id: `sess-${i % 2_000}-t${i}`,
  recorded_at: new Date(1_767_225_600_000 + i).toISOString(),
  duration_ms: 3,
  resolution: "RESOLVED" as const
})

/** Counts what reaches the sink and when the last entry got there. */
const counting = (published: Ref.Ref<number>) =>
  Layer.effect(
    OutputSink,
    Effect.map(OutputSink, (inner) => ({
      publish: (messages: Parameters<typeof inner.publish>[0]) =>
        Effect.tap(inner.publish(messages), () => Ref.update(published, (n) => n + messages.length))
    }))
  )

const recordRate = Effect.gen(function* () {
  const buffer = yield* TelemetryBuffer
  let accepted = 0
  for (let i = 0; i < 5_000; i++) yield* buffer.record(entry(i)) // warm-up
  const t0 = wallMs()
  for (let i = 0; i < args.records; i++) if (yield* buffer.record(entry(i))) accepted++
  const seconds = (wallMs() - t0) / 1000
  return {
    calls: args.records,
    perSec: round(args.records / seconds, 0),
    acceptedShare: round(accepted / args.records),
    note: "capacity 10,000 (the default); a call that finds the buffer full drops and counts the entry"
  }
}).pipe(
  Effect.provide(
    TelemetryBuffer.layer({ capacity: 10_000, flushChunk: 500, topic }).pipe(
      Layer.provide(Layer.succeed(OutputSink, { publish: () => Effect.void }))
    )
  )
)

const flushRate = Effect.gen(function* () {
  const published = yield* Ref.make(0)
  const layer = TelemetryBuffer.layer({ capacity: args.flush + 1, flushChunk: 500, topic }).pipe(
    Layer.provide(
      counting(published).pipe(Layer.provide(KafkaSinkLive), Layer.provide(kafkaClientLayer(args.brokers)))
    )
  )
  return yield* Effect.scoped(
    Effect.gen(function* () {
      const ctx = yield* Layer.build(layer)
      const buffer = Context.get(ctx, TelemetryBuffer)
      // one round trip first, so the producer's connection and metadata are not in the figure
      yield* buffer.record(entry(0))
      while ((yield* Ref.get(published)) < 1) yield* Effect.sleep("5 millis")
      yield* Ref.set(published, 0)
      const t0 = wallMs()
      for (let i = 0; i < args.flush; i++) yield* buffer.record(entry(i))
      const recorded = wallMs()
      while ((yield* Ref.get(published)) < args.flush) yield* Effect.sleep("2 millis")
      const seconds = (wallMs() - t0) / 1000
      return {
        entries: args.flush,
        perSec: round(args.flush / seconds, 0),
        recordMs: round(recorded - t0, 1),
        flushChunk: 500
      }
    })
  )
})

const result = await Effect.runPromise(
  Effect.all({ record: recordRate, flush: flushRate }).pipe(Effect.provide(Metrics.layerTest))
)
writeResult({ ...result, load: load() })
process.exit(0)
