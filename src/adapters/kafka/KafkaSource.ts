/**
 * EventSource over Kafka (DESIGN 2, 4): a consumer group reading the turn-events topic from the
 * earliest offset for a new group. Each fetched batch of a partition is cut into chunks of at most
 * `batchSize` records, handed to the stream one after another; a chunk's `commit` resolves and
 * commits its last offset explicitly (autoCommit off: `commitOffsetsIfNecessary` would commit
 * nothing without an interval or a threshold). While a chunk is handled — a store outage can hold
 * it for long — the consumer keeps heartbeating, so the group does not evict us, and the partition
 * fetches nothing more (backpressure without `pause()`, which would redeliver the batch).
 *
 * kafkajs calls us back from promises: each chunk runs as a fiber of this source's scope (no
 * fire-and-forget), and the partitions of every rebalance are handed to `onRevoked` before the next
 * chunk is handled. A consumer kafkajs gives up on (a CRASH it will not restart) fails this run;
 * `run` then recreates the consumer with backoff, while readiness reports it disconnected.
 */
import { Deferred, Duration, Effect, Fiber, FiberSet, Layer, Schedule } from "effect"
import type { Consumer, EachBatchPayload, IHeaders } from "kafkajs"
import { type ConsumerProgress, partitionKey } from "../../observability/ConsumerProgress"
import { Metrics } from "../../observability/Metrics"
import { type BatchHandler, EventSource, EventSourceError, type SourceRecord } from "../../ports/EventSource"
import { KafkaClient } from "./KafkaClient"

export interface KafkaSourceConfig {
  /** Every topic this group consumes (one consumer subscribes to all of them). */
  readonly topics: ReadonlyArray<string>
  readonly group: string
  readonly batchSize: number
  readonly partitionsConcurrently: number
  readonly sessionTimeoutMs: number
  readonly heartbeatIntervalMs: number
  readonly progress: ConsumerProgress
}

/** Kafka headers as strings (a header with several values keeps the last). */
const headersOf = (headers: IHeaders | undefined): Record<string, string> => {
  const result: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers ?? {})) {
    const last = Array.isArray(value) ? value.at(-1) : value
    if (last !== undefined) result[name] = last.toString()
  }
  return result
}

/** Backoff between consumers when kafkajs gives one up: 1 s doubling, at most 30 s apart. */
const restartSchedule = Schedule.exponential(Duration.seconds(1)).pipe(
  Schedule.either(Schedule.spaced(Duration.seconds(30)))
)

export const makeKafkaSource = (config: KafkaSourceConfig) =>
  Effect.gen(function* () {
    const kafka = yield* KafkaClient
    const metrics = yield* Metrics
    const { progress } = config
    const attempt = <A>(operation: string, f: () => Promise<A>) =>
      Effect.tryPromise({ try: f, catch: (cause) => new EventSourceError({ operation, cause }) })

    // Survives consumer restarts: what this instance owned, and what it lost but has not yet told.
    // Once a consumer has run, a failing one (even its reconnect) is recreated instead of ending the service.
    let started = false
    let owned = new Map<string, ReadonlySet<number>>()
    let revoked: Array<{ readonly topic: string; readonly partitions: ReadonlyArray<number> }> = []

    /** One consumer's life: connect, subscribe, run until interrupted or given up by kafkajs. */
    const runConsumer = <R>(handler: BatchHandler<R>) =>
      Effect.gen(function* () {
        const runFork = yield* FiberSet.makeRuntimePromise<R>()
        const crashed = yield* Deferred.make<never, EventSourceError>()
        const consumer: Consumer = kafka.consumer({
          groupId: config.group,
          sessionTimeout: config.sessionTimeoutMs,
          heartbeatInterval: config.heartbeatIntervalMs,
          rebalanceTimeout: config.sessionTimeoutMs * 2,
          maxBytesPerPartition: 1024 * 1024,
          // kafkajs waits up to 5 s for data by default: an idle partition then stalls the others' fetch
          maxWaitTimeInMs: 250,
          allowAutoTopicCreation: false
        })

        consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
          const assigned = new Map(
            config.topics.map((topic) => [topic, new Set(payload.memberAssignment[topic] ?? [])] as const)
          )
          progress.assigned(
            new Set([...assigned].flatMap(([topic, ps]) => [...ps].map((p) => partitionKey(topic, p))))
          )
          // kafkajs rebalances eagerly: every partition is revoked, then assigned again. Telling the
          // stream so (not only about the partitions that moved) makes it claim each one anew, so a
          // member that was fenced as a zombie and rejoined owns its partitions again.
          for (const [topic, partitions] of owned) {
            if (partitions.size > 0) revoked.push({ topic, partitions: [...partitions] })
          }
          owned = assigned
        })
        consumer.on(consumer.events.CONNECT, () => progress.connected(true))
        consumer.on(consumer.events.DISCONNECT, () => progress.connected(false))
        // A crash kafkajs restarts itself is only logged (by kafkajs); one it gives up on ends this run.
        consumer.on(consumer.events.CRASH, ({ payload }) => {
          progress.connected(false)
          if (!payload.restart) {
            Deferred.unsafeDone(
              crashed,
              Effect.fail(new EventSourceError({ operation: "consume", cause: payload.error }))
            )
          }
        })

        /** Tells the stream about lost partitions, before it handles anything else. */
        const flushRevoked = Effect.suspend(() => {
          if (revoked.length === 0) return Effect.void
          const lost = revoked
          revoked = []
          return Effect.forEach(lost, (r) => handler.onRevoked(r.topic, r.partitions), { discard: true })
        })

        const handleChunk = (payload: EachBatchPayload, chunk: EachBatchPayload["batch"]["messages"]) => {
          const { batch, resolveOffset, heartbeat } = payload
          const { topic, partition } = batch
          const records: Array<SourceRecord> = chunk.map((m) => ({
            topic,
            partition,
            offset: m.offset,
            key: m.key?.toString("utf8") ?? null,
            value: m.value?.toString("utf8") ?? "",
            headers: headersOf(m.headers)
          }))
          const last = chunk[chunk.length - 1]!.offset
          const next = (BigInt(last) + 1n).toString()
          const commit = Effect.gen(function* () {
            resolveOffset(last)
            yield* attempt("commit", () => consumer.commitOffsets([{ topic, partition, offset: next }]))
            const lag = Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(next)))
            metrics.consumerLag.set({ topic, partition: String(partition) }, lag)
            progress.committed(partitionKey(topic, partition), Number(next), lag)
          })
          return Effect.gen(function* () {
            yield* flushRevoked
            // Heartbeat while the chunk is handled; a store outage can hold it for long.
            const beat = yield* Effect.fork(
              attempt("heartbeat", () => heartbeat()).pipe(
                Effect.ignore,
                Effect.repeat(Schedule.spaced(Duration.millis(config.heartbeatIntervalMs)))
              )
            )
            yield* handler
              .onBatch({ topic, partition, records, commit })
              .pipe(Effect.ensuring(Fiber.interrupt(beat)))
          })
        }

        const eachBatch = async (payload: EachBatchPayload) => {
          const { batch, heartbeat, isRunning, isStale } = payload
          for (let i = 0; i < batch.messages.length; i += config.batchSize) {
            if (!isRunning() || isStale()) return
            await runFork(handleChunk(payload, batch.messages.slice(i, i + config.batchSize)))
            await heartbeat()
          }
        }

        yield* Effect.acquireRelease(
          attempt("connect", () => consumer.connect()),
          () =>
            // Stops fetching and waits for the chunks in flight to finish (and commit) first; the
            // fiber set, released after this, interrupts any still paused past the deadline.
            Effect.promise(() => consumer.disconnect()).pipe(
              Effect.timeout(Duration.seconds(30)),
              Effect.ignore,
              Effect.ensuring(Effect.sync(() => progress.connected(false)))
            )
        )
        yield* attempt("subscribe", () =>
          consumer.subscribe({ topics: [...config.topics], fromBeginning: true })
        )
        yield* attempt("run", () =>
          consumer.run({
            autoCommit: false,
            eachBatchAutoResolve: false,
            partitionsConsumedConcurrently: config.partitionsConcurrently,
            eachBatch
          })
        )
        started = true
        return yield* Deferred.await(crashed)
      }).pipe(Effect.scoped)

    return EventSource.of({
      run: (handler) =>
        runConsumer(handler).pipe(
          Effect.tapError((error) =>
            Effect.logError("kafka consumer given up by the client; recreating it", {
              operation: error.operation,
              error: String(error.cause)
            })
          ),
          // A first start that fails (connect, subscribe) fails the service; after that, recreate.
          Effect.retry({ schedule: restartSchedule, while: () => started })
        )
    })
  })

export const KafkaSourceLive = (config: KafkaSourceConfig) =>
  Layer.effect(EventSource, makeKafkaSource(config))
