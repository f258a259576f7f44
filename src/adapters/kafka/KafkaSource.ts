/**
 * Consumes turn events from Kafka (DESIGN 2, 4): a consumer group reading from the earliest offset
 * for a new group; each partition's batch is cut into chunks that go through the stream wiring,
 * and the partition's offset is committed explicitly right after each chunk is durable
 * (autoCommit off: `commitOffsetsIfNecessary` would commit nothing without an interval or a
 * threshold). A chunk paused by a store outage keeps heartbeating, so the group does not evict us,
 * and the partition fetches nothing more until it is done (backpressure without `pause()`, which
 * would redeliver the batch). On every assignment the actors of partitions we lost are dropped.
 */
import { Data, Duration, Effect, Fiber, Runtime, Schedule } from "effect"
import type { EachBatchPayload } from "kafkajs"
import { type HandleBatchContext, type RawRecord, handleBatch } from "../../../streams/TurnStream"
import type { TopicNames } from "../../../streams/topics"
import { ActorRegistry } from "../../sessions/ActorRegistry"
import { Metrics } from "../../observability/Metrics"
import { KafkaClient } from "./KafkaClient"
import { type ConsumerProgress, makeConsumerProgress } from "../../observability/ConsumerProgress"

export class KafkaConsumerError extends Data.TaggedError("KafkaConsumerError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

export interface KafkaSourceConfig {
  readonly topics: TopicNames
  readonly group: string
  readonly batchSize: number
  readonly partitionsConcurrently: number
  readonly sessionTimeoutMs: number
  readonly heartbeatIntervalMs: number
}

export const runKafkaSource = (
  config: KafkaSourceConfig,
  progress: ConsumerProgress = makeConsumerProgress()
) =>
  Effect.gen(function* () {
    const kafka = yield* KafkaClient
    const registry = yield* ActorRegistry
    const metrics = yield* Metrics
    const run = Runtime.runPromise(yield* Effect.runtime<HandleBatchContext | ActorRegistry>())
    const topic = config.topics.turnEvents
    const consumer = kafka.consumer({
      groupId: config.group,
      sessionTimeout: config.sessionTimeoutMs,
      heartbeatInterval: config.heartbeatIntervalMs,
      rebalanceTimeout: config.sessionTimeoutMs * 2,
      maxBytesPerPartition: 1024 * 1024,
      // kafkajs waits up to 5 s for data by default: an idle partition then stalls the others' fetch
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: false
    })
    const attempt = <A>(operation: string, f: () => Promise<A>) =>
      Effect.tryPromise({ try: f, catch: (cause) => new KafkaConsumerError({ operation, cause }) })

    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = new Set(payload.memberAssignment[topic] ?? [])
      progress.assigned(assigned)
      void run(registry.dropWhere((actor) => actor.partition >= 0 && !assigned.has(actor.partition)))
    })
    consumer.on(consumer.events.CONNECT, () => progress.connected(true))
    consumer.on(consumer.events.DISCONNECT, () => progress.connected(false))
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      progress.connected(false)
      void run(
        Effect.logError("kafka consumer crashed", { error: String(payload.error), restart: payload.restart })
      )
    })

    const eachBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) => {
      const { partition } = batch
      for (let i = 0; i < batch.messages.length; i += config.batchSize) {
        if (!isRunning() || isStale()) return
        const chunk = batch.messages.slice(i, i + config.batchSize)
        const records: Array<RawRecord> = chunk.map((m) => ({
          topic,
          partition,
          offset: m.offset,
          key: m.key?.toString("utf8") ?? null,
          value: m.value?.toString("utf8") ?? ""
        }))
        await run(
          Effect.gen(function* () {
            // Heartbeat while the chunk is processed; a store outage can hold it for long.
            const beat = yield* Effect.fork(
              Effect.tryPromise(() => heartbeat()).pipe(
                Effect.ignore,
                Effect.repeat(Schedule.spaced(Duration.millis(config.heartbeatIntervalMs)))
              )
            )
            yield* handleBatch(config.topics, records).pipe(Effect.ensuring(Fiber.interrupt(beat)))
          })
        )
        const last = chunk[chunk.length - 1]!.offset
        const next = (BigInt(last) + 1n).toString()
        resolveOffset(last)
        await consumer.commitOffsets([{ topic, partition, offset: next }])
        metrics.committedOffsets.inc(chunk.length)
        const lag = Number(BigInt(batch.highWatermark) - BigInt(next))
        metrics.consumerLag.set({ partition: String(partition) }, Math.max(0, lag))
        progress.committed(partition, Number(next), Math.max(0, lag))
        await heartbeat()
      }
    }

    yield* Effect.acquireRelease(
      attempt("connect", () => consumer.connect()),
      () =>
        // Stops fetching and waits for the batches in flight to finish (and commit) first.
        Effect.promise(() => consumer.disconnect()).pipe(Effect.timeout(Duration.seconds(30)), Effect.ignore)
    )
    yield* attempt("subscribe", () => consumer.subscribe({ topics: [topic], fromBeginning: true }))
    yield* attempt("run", () =>
      consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: config.partitionsConcurrently,
        eachBatch
      })
    )
    return yield* Effect.never
  })
