/**
 * Consumes the turn-events topic of the embedded in-process log: one fiber per partition (so
 * partitions proceed concurrently and a session's events stay in order), committing each
 * partition's offset only after its batch is durable. When an `EmbeddedProgress` is provided it
 * reports lag and commits to it, as the Kafka source does, so readiness sees a stalled consumer.
 */
import { Context, type Duration, Effect, Option } from "effect"
import type { ConsumerProgress } from "../../observability/ConsumerProgress"
import { InProcessLog } from "./InProcessLog"
import { Metrics } from "../../observability/Metrics"
import { handleBatch } from "../../../streams/TurnStream"
import type { TopicNames } from "../../../streams/topics"

export interface EmbeddedSourceConfig {
  readonly topics: TopicNames
  readonly group: string
  readonly batchSize: number
  readonly idlePoll: Duration.DurationInput
}

/** Where the embedded source reports its consumption progress (optional). */
export class EmbeddedProgress extends Context.Tag("turnvault/EmbeddedProgress")<
  EmbeddedProgress,
  ConsumerProgress
>() {}

export const runEmbeddedSource = (config: EmbeddedSourceConfig) =>
  Effect.gen(function* () {
    const log = yield* InProcessLog
    const metrics = yield* Metrics
    const topic = config.topics.turnEvents
    const progress = Option.getOrUndefined(yield* Effect.serviceOption(EmbeddedProgress))
    progress?.assigned(new Set(Array.from({ length: log.partitions }, (_, i) => i)))
    progress?.connected(true)

    const partitionLoop = (partition: number) =>
      Effect.gen(function* () {
        const offset = log.committed(config.group, topic, partition)
        const records = log.read(topic, partition, offset, config.batchSize)
        progress?.lagged(partition, log.endOffset(topic, partition) - offset)
        if (records.length === 0) return yield* Effect.sleep(config.idlePoll)
        // A batch that started finishes before shutdown takes effect (only a store outage's
        // pause is interruptible: see TurnProcessor).
        yield* Effect.uninterruptible(
          Effect.gen(function* () {
            yield* handleBatch(
              config.topics,
              records.map((r) => ({ ...r, offset: String(r.offset) }))
            )
            const next = records[records.length - 1]!.offset + 1
            log.commit(config.group, topic, partition, next)
            metrics.committedOffsets.inc(records.length)
            const lag = log.endOffset(topic, partition) - next
            metrics.consumerLag.set({ partition: String(partition) }, lag)
            progress?.committed(partition, next, lag)
          })
        )
      }).pipe(Effect.forever)

    return yield* Effect.forEach(
      Array.from({ length: log.partitions }, (_, i) => i),
      partitionLoop,
      { concurrency: "unbounded", discard: true }
    )
  })
