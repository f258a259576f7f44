/**
 * Telemetry goes through a bounded buffer that never blocks a turn: when it is full the entry is
 * dropped and counted (DESIGN 4). A background fiber drains it to the telemetry topic in chunks.
 */
import { Chunk, Context, Duration, Effect, Layer, Queue } from "effect"
import type { TelemetryEntry } from "../../schemas"
import { Metrics } from "./Metrics"
import { OutputSink } from "../ports/OutputSink"

export interface TelemetryBufferConfig {
  readonly capacity: number
  readonly flushChunk: number
  readonly topic: string
}

export const makeTelemetryBuffer = (config: TelemetryBufferConfig) =>
  Effect.gen(function* () {
    const metrics = yield* Metrics
    const sink = yield* OutputSink
    const queue = yield* Effect.acquireRelease(Queue.dropping<TelemetryEntry>(config.capacity), (q) =>
      Queue.shutdown(q)
    )

    const toMessage = (entry: TelemetryEntry) => ({
      topic: config.topic,
      key: entry.session_id,
      value: JSON.stringify(entry)
    })

    const flushOnce = Effect.gen(function* () {
      const entries = yield* Queue.takeBetween(queue, 1, config.flushChunk)
      metrics.telemetryBufferEntries.set(yield* Queue.size(queue))
      yield* sink.publish(Chunk.toReadonlyArray(entries).map(toMessage)).pipe(
        Effect.tap(() =>
          Effect.sync(() => metrics.outputsPublished.inc({ topic: config.topic }, entries.length))
        ),
        // Telemetry may be lost under failure; it must never wedge the drain loop.
        Effect.catchAll((error) =>
          Effect.sync(() => metrics.telemetryDropped.inc(entries.length)).pipe(
            Effect.zipRight(Effect.logWarning("telemetry publish failed", error))
          )
        )
      )
    })

    /** Publishes whatever is buffered; used on shutdown. */
    const drain = Effect.gen(function* () {
      const rest = yield* Queue.takeAll(queue)
      if (rest.length > 0) yield* sink.publish(Chunk.toReadonlyArray(rest).map(toMessage)).pipe(Effect.ignore)
    })

    yield* Effect.forkScoped(Effect.forever(flushOnce))
    yield* Effect.addFinalizer(() => drain.pipe(Effect.timeout(Duration.seconds(5)), Effect.ignore))

    return {
      /** Never blocks: returns false (and counts a drop) when the buffer is full. */
      record: (entry: TelemetryEntry) =>
        Effect.map(Queue.offer(queue, entry), (accepted) => {
          if (!accepted) metrics.telemetryDropped.inc()
          return accepted
        }),
      /**
       * A batch's entries in one offer (one effect per batch, not per turn). Whatever does not
       * fit is dropped and counted.
       */
      recordAll: (entries: ReadonlyArray<TelemetryEntry>) =>
        entries.length === 0
          ? Effect.void
          : Effect.flatMap(Queue.size(queue), (size) => {
              const room = Math.max(0, config.capacity - size)
              const dropped = Math.max(0, entries.length - room)
              if (dropped > 0) metrics.telemetryDropped.inc(dropped)
              return dropped === entries.length
                ? Effect.void
                : Queue.offerAll(queue, dropped === 0 ? entries : entries.slice(0, room))
            }),
      size: Queue.size(queue)
    }
  })

export class TelemetryBuffer extends Context.Tag("turnvault/TelemetryBuffer")<
  TelemetryBuffer,
  Effect.Effect.Success<ReturnType<typeof makeTelemetryBuffer>>
>() {
  static readonly layer = (config: TelemetryBufferConfig) =>
    Layer.scoped(TelemetryBuffer, makeTelemetryBuffer(config))
}
