/**
 * The ingest worker's consumer on the embedded log (`turnvault start` on embedded defaults runs
 * the worker in-process): one fiber per partition of the memory-ingestion topic, reading from its
 * group's committed offset, committing after each chunk the handler finished. Same contract as
 * the Kafka consumer (adapters/kafka/IngestConsumer.ts), without a broker.
 */
import { type Duration, Effect } from "effect"
import { InProcessLog } from "./InProcessLog"

export interface EmbeddedIngestConfig {
  readonly topic: string
  readonly group: string
  readonly chunk: number
  readonly idlePoll: Duration.DurationInput
  readonly onLag: (partition: number, lag: number) => void
}

export const consumeEmbeddedTasks = <R>(
  config: EmbeddedIngestConfig,
  handle: (
    records: ReadonlyArray<{ readonly key: string | null; readonly value: string | Buffer }>
  ) => Effect.Effect<void, never, R>
) =>
  Effect.gen(function* () {
    const log = yield* InProcessLog
    const partitionLoop = (partition: number) =>
      Effect.gen(function* () {
        const offset = log.committed(config.group, config.topic, partition)
        const records = log.read(config.topic, partition, offset, config.chunk)
        if (records.length === 0) return yield* Effect.sleep(config.idlePoll)
        yield* handle(records)
        const next = records[records.length - 1]!.offset + 1
        log.commit(config.group, config.topic, partition, next)
        config.onLag(partition, log.endOffset(config.topic, partition) - next)
      }).pipe(Effect.forever)
    yield* Effect.forEach(
      Array.from({ length: log.partitions }, (_, p) => p),
      partitionLoop,
      { concurrency: "unbounded", discard: true }
    )
  })
