/**
 * EventSource over Kafka (DESIGN 2, 4): a consumer group reading the turn-events topic from the
 * earliest offset for a new group. Each fetched batch of a partition is cut into chunks of at most
 * `batchSize` records and queued on the partition's lane; the lane's fiber hands them to the stream
 * one after another, and a chunk's `commit` commits its last offset explicitly (autoCommit off).
 * kafkajs fetches its next round only when every eachBatch of the last one returned: since
 * eachBatch only queues, a slow batch of one partition no longer holds back the fetches of the
 * others (the input's re-keying waited behind the stateful stage's commits before). A full lane
 * makes eachBatch wait, heartbeating meanwhile — backpressure without `pause()`, which would
 * redeliver the batch; a store outage holds its lane for as long as it lasts.
 *
 * kafkajs calls us back from promises: each enqueue runs as a fiber of this source's scope (no
 * fire-and-forget). The lanes, the group membership and the supervisor that recreates a consumer
 * are PartitionLanes.ts's, shared with PlatformaticSource: a consumer kafkajs gives up on (a CRASH
 * it will not restart) is recreated like one whose lane failed.
 */
import { Deferred, Duration, Effect, Fiber, FiberSet, Layer, Schedule } from "effect"
import type { Consumer, EachBatchPayload, IHeaders } from "kafkajs"
import type { ConsumerProgress } from "../../observability/ConsumerProgress"
import { Metrics } from "../../observability/Metrics"
import { type BatchHandler, EventSource, EventSourceError } from "../../ports/EventSource"
import { KafkaClient } from "./KafkaClient"
import { attempt, type Fetched, makeLanes, makeMembership, superviseConsumers } from "./PartitionLanes"

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

export const makeKafkaSource = (config: KafkaSourceConfig) =>
  Effect.gen(function* () {
    const kafka = yield* KafkaClient
    const metrics = yield* Metrics
    const { progress } = config
    // Survives consumer restarts: what this instance owned, and what it lost but has not yet told.
    const membership = makeMembership(config.topics, progress)

    /** Sets up one consumer (connect, subscribe, run); `crashed` fails when kafkajs gives it up. */
    const runConsumer = <R>(handler: BatchHandler<R>, crashed: Deferred.Deferred<never, EventSourceError>) =>
      Effect.gen(function* () {
        const runFork = yield* FiberSet.makeRuntimePromise<R>()
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

        consumer.on(consumer.events.GROUP_JOIN, ({ payload }) =>
          membership.joined((topic) => payload.memberAssignment[topic] ?? [])
        )
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

        yield* Effect.acquireRelease(
          attempt("connect", () => consumer.connect()),
          () =>
            // Runs after the lanes closed (their batches in flight finished and committed).
            Effect.promise(() => consumer.disconnect()).pipe(
              Effect.timeout(Duration.seconds(30)),
              Effect.ignore,
              Effect.ensuring(Effect.sync(() => progress.connected(false)))
            )
        )

        // kafkajs fetches its next round only when every eachBatch of this one returned; eachBatch
        // only queues, so one partition's slow batch holds back its own lane, not the others'
        // fetches. A full lane makes eachBatch wait, heartbeating meanwhile (kafkajs heartbeats only
        // between batches): backpressure without `pause()`, which would redeliver the batch.
        const lanes = yield* makeLanes(handler, {
          batchSize: config.batchSize,
          membership,
          progress,
          metrics,
          crashed,
          commit: (topic, partition, offset) => consumer.commitOffsets([{ topic, partition, offset }])
        })

        const eachBatch = async (payload: EachBatchPayload) => {
          const { batch, heartbeat, isRunning, isStale, resolveOffset } = payload
          const { topic, partition, highWatermark, messages } = batch
          const taken = membership.generation()
          if (messages.length === 0 || !isRunning() || isStale()) return
          const records: Array<Fetched> = messages.map((m) => ({
            generation: taken,
            highWatermark,
            leaderEpoch: -1,
            record: {
              topic,
              partition,
              offset: m.offset,
              key: m.key?.toString("utf8") ?? null,
              value: m.value ?? Buffer.alloc(0),
              headers: headersOf(m.headers)
            }
          }))
          const beat = attempt("heartbeat", heartbeat).pipe(
            Effect.ignore,
            Effect.repeat(Schedule.spaced(Duration.millis(config.heartbeatIntervalMs))),
            Effect.delay(Duration.millis(config.heartbeatIntervalMs))
          )
          const queued = Effect.gen(function* () {
            const beating = yield* Effect.fork(beat)
            yield* lanes.enqueue(topic, partition, records).pipe(Effect.ensuring(Fiber.interrupt(beating)))
          })
          try {
            await runFork(queued)
          } catch {
            return // the lanes shut down: this consumer is stopping
          }
          // The next fetch starts after what is queued; only the stream's commits move the group's offset.
          if (taken === membership.generation()) resolveOffset(messages[messages.length - 1]!.offset)
        }

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
      })

    return EventSource.of({
      run: (handler) => superviseConsumers(progress, (crashed) => runConsumer(handler, crashed))
    })
  })

export const KafkaSourceLive = (config: KafkaSourceConfig) =>
  Layer.effect(EventSource, makeKafkaSource(config))
