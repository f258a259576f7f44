/**
 * EventSource over the embedded in-process log: one fiber per partition (partitions proceed
 * concurrently, a partition's batches one after another), reading from the group's committed
 * offset. A batch's `commit` advances that offset and reports lag and progress, as the Kafka
 * source does, so readiness sees a stalled partition. The embedded log never rebalances.
 */
import { type Duration, Effect, Layer } from "effect"
import { type ConsumerProgress, partitionKey } from "../../observability/ConsumerProgress"
import { Metrics } from "../../observability/Metrics"
import { EventSource } from "../../ports/EventSource"
import { InProcessLog } from "./InProcessLog"

export interface EmbeddedSourceConfig {
  readonly topic: string
  readonly group: string
  readonly batchSize: number
  /** How long an empty partition waits before it looks again. */
  readonly idlePoll: Duration.DurationInput
  readonly progress: ConsumerProgress
}

export const makeEmbeddedSource = (config: EmbeddedSourceConfig) =>
  Effect.gen(function* () {
    const log = yield* InProcessLog
    const metrics = yield* Metrics
    const { topic, group, progress } = config
    const partitions = Array.from({ length: log.partitions }, (_, i) => i)

    const commit = (partition: number, next: number) =>
      Effect.sync(() => {
        log.commit(group, topic, partition, next)
        const lag = log.endOffset(topic, partition) - next
        metrics.consumerLag.set({ topic, partition: String(partition) }, lag)
        progress.committed(partitionKey(topic, partition), next, lag)
      })

    return EventSource.of({
      run: (handler) =>
        Effect.gen(function* () {
          progress.assigned(new Set(partitions.map((p) => partitionKey(topic, p))))
          progress.connected(true)
          const partitionLoop = (partition: number) =>
            Effect.gen(function* () {
              const offset = log.committed(group, topic, partition)
              const records = log.read(topic, partition, offset, config.batchSize)
              progress.lagged(partitionKey(topic, partition), log.endOffset(topic, partition) - offset)
              if (records.length === 0) return yield* Effect.sleep(config.idlePoll)
              const started = yield* handler.onBatch({
                topic,
                partition,
                records: records.map((r) => ({
                  ...r,
                  offset: String(r.offset),
                  value: typeof r.value === "string" ? Buffer.from(r.value) : r.value
                })),
                commit: commit(partition, records[records.length - 1]!.offset + 1),
                settled: Effect.void
              })
              yield* started.complete
            }).pipe(Effect.forever)
          return yield* Effect.forEach(partitions, partitionLoop, { concurrency: "unbounded", discard: true })
        })
    })
  })

export const EmbeddedSourceLive = (config: EmbeddedSourceConfig) =>
  Layer.effect(EventSource, makeEmbeddedSource(config))
