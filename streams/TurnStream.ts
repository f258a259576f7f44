/**
 * The flow of turn events, the one place a batch travels and is acknowledged (DESIGN 2, 4):
 *
 *   source batch → decode (bad → DLQ) → apply → persist → publish → commit
 *
 * Every source (Kafka, the embedded log, a JSONL file for `process`) runs this same flow. A batch is
 * committed only after its writes are durable and its outputs and dead letters are published; a
 * step that fails on an unavailable dependency pauses the partition (PausePolicy) until it
 * succeeds. A batch that fails before it is durable is forgotten and recomputed from the stores.
 */
import { Context, Effect, Layer } from "effect"
import type { TurnEvent } from "../schemas"
import { type EventResult, TurnBatch, batchLogIds } from "../src/batch/TurnBatch"
import { Metrics } from "../src/observability/Metrics"
import { EventSource, type SourceBatch, type SourceRecord } from "../src/ports/EventSource"
import { type OutputMessage, OutputSink } from "../src/ports/OutputSink"
import type { TopicNames } from "../src/ports/Topics"
import { deadLetter } from "./deadLetter"
import { decodeTurnEvent } from "./decode"
import { type PausePolicyConfig, makePausePolicy } from "./PausePolicy"

export interface TurnStreamConfig extends PausePolicyConfig {
  readonly topics: TopicNames
}

export const makeTurnStream = (config: TurnStreamConfig) =>
  Effect.gen(function* () {
    const core = yield* TurnBatch
    const sink = yield* OutputSink
    const metrics = yield* Metrics
    const pause = makePausePolicy(config)

    /** Decodes a batch's records; what does not decode becomes a dead letter with its reason. */
    const decode = (records: ReadonlyArray<SourceRecord>) =>
      Effect.gen(function* () {
        const events: Array<TurnEvent> = []
        const sources: Array<SourceRecord> = []
        const dead: Array<OutputMessage> = []
        for (const record of records) {
          const decoded = decodeTurnEvent(record.value)
          if (decoded._tag === "Left") {
            dead.push(yield* deadLetter(config.topics, metrics, record, decoded.left))
            continue
          }
          events.push(decoded.right)
          sources.push(record)
        }
        return { events, sources, dead }
      })

    /**
     * Applies the events and makes their writes durable. Unavailable stores pause the write (the
     * same writes are retried, so a half-written batch is finished, never recomputed); any other
     * failure (a look-up, a fenced owner) forgets the batch and recomputes it from the stores.
     */
    const durable = (events: ReadonlyArray<TurnEvent>, partition: number) =>
      Effect.gen(function* () {
        const batch = yield* core.apply(events, partition)
        yield* core.persist(batch).pipe(
          pause.whileFailing(
            (error) => error._tag === "PersistenceError",
            "stores unavailable; pausing until they recover",
            batchLogIds(batch)
          ),
          Effect.onError(() => core.forget(batch))
        )
        return batch
      }).pipe(pause.untilDone("batch failed; recomputing it from the stores", { partition }))

    /** Takes one batch of records to durable and published; returns one result per decoded event. */
    const handle = (records: ReadonlyArray<SourceRecord>, partition: number) =>
      Effect.gen(function* () {
        const { events, sources, dead } = yield* decode(records)
        if (events.length === 0) {
          if (dead.length > 0)
            yield* sink.publish(dead).pipe(pause.untilDone("dead letters not published; retrying"))
          return [] as ReadonlyArray<EventResult>
        }
        const batch = yield* durable(events, partition)
        for (const [i, result] of batch.results.entries()) {
          if (result.kind !== "out_of_order") continue
          dead.push(
            yield* deadLetter(
              config.topics,
              metrics,
              sources[i]!,
              { reason: "out_of_order", detail: result.detail },
              events[i]
            )
          )
        }
        yield* core
          .publish(batch)
          .pipe(pause.untilDone("outputs not published; retrying", batchLogIds(batch)))
        if (dead.length > 0)
          yield* sink.publish(dead).pipe(pause.untilDone("dead letters not published; retrying"))
        yield* core.complete(batch)
        return batch.results
      })

    /** Consumes the source: every batch handled, then committed; uninterruptible but for its pauses. */
    const run = Effect.flatMap(EventSource, (source) =>
      source.run({
        onBatch: (batch: SourceBatch) =>
          handle(batch.records, batch.partition).pipe(Effect.zipRight(batch.commit), Effect.uninterruptible),
        onRevoked: core.revoke
      })
    )

    return { handle, run }
  })

export class TurnStream extends Context.Tag("turnvault/TurnStream")<
  TurnStream,
  Effect.Effect.Success<ReturnType<typeof makeTurnStream>>
>() {
  static readonly layer = (config: TurnStreamConfig) => Layer.effect(TurnStream, makeTurnStream(config))
}
