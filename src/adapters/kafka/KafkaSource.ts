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
 * fire-and-forget), and the partitions of every rebalance are handed to `onRevoked` before the next
 * chunk is handled; chunks queued before a rebalance are dropped unhandled. A failed chunk of a
 * partition still owned, or a consumer kafkajs gives up on (a CRASH it will not restart), fails
 * this run; `run` then recreates the consumer with backoff (every partition is fetched again from
 * its committed offset), while readiness reports it disconnected.
 */
import {
  Cause,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberSet,
  Layer,
  Option,
  Queue,
  Schedule
} from "effect"
import type { Consumer, EachBatchPayload, IHeaders, KafkaMessage } from "kafkajs"
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

/** A fetched record waiting in its partition's lane. */
interface Queued {
  /** The group join it was fetched under: a record queued before the last one is stale. */
  readonly generation: number
  readonly highWatermark: string
  readonly message: KafkaMessage
}

/** The records of one partition handed to the stream as one batch: at most `batchSize`. */
interface Chunk {
  readonly generation: number
  readonly topic: string
  readonly partition: number
  readonly highWatermark: string
  readonly messages: ReadonlyArray<KafkaMessage>
}

/** How many batches' worth of records a partition's lane holds before eachBatch waits. */
const LANE_BATCHES = 2

/**
 * Backoff before the next consumer after `failures` in a row: 1 s doubling, at most 30 s. A consumer
 * that ran for RESET_AFTER before it stopped starts a new series: a member thawed after a freeze
 * (evicted, its partitions fenced) rejoins within a second each time, not ever later.
 */
const restartDelay = (failures: number) => Duration.seconds(Math.min(30, 2 ** Math.min(failures - 1, 5)))
const RESET_AFTER = Duration.seconds(60)

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
    // Counts the group joins: a chunk queued under an earlier one is stale.
    let generation = 0

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
          generation += 1
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

        // Chunks started and not yet completed (or abandoned), per group join they were fetched under.
        const running = new Map<number, number>()
        const enter = (joined: number) =>
          Effect.sync(() => running.set(joined, (running.get(joined) ?? 0) + 1))
        const leave = (joined: number) =>
          Effect.sync(() => {
            const left = (running.get(joined) ?? 1) - 1
            if (left === 0) running.delete(joined)
            else running.set(joined, left)
          })
        const earlierRunning = (joined: number) => () => [...running.keys()].some((g) => g < joined)
        const earlierEnded = (joined: number) =>
          Effect.sleep(Duration.millis(10)).pipe(
            Effect.repeat({ while: earlierRunning(joined) }),
            Effect.when(earlierRunning(joined))
          )

        /**
         * Starts one chunk of a partition with the stream; its `complete` commits it. After a group
         * join, no chunk starts (nor tells the stream of the revocation) until the chunks that began
         * before it have completed: the stream never sees two owners' batches of one partition
         * overlap, and a revocation never lands in the middle of a batch.
         */
        const startChunk = (chunk: Chunk, settled: Effect.Effect<void>) => {
          const { topic, partition, messages, highWatermark } = chunk
          const records: Array<SourceRecord> = messages.map((m) => ({
            topic,
            partition,
            offset: m.offset,
            key: m.key?.toString("utf8") ?? null,
            value: m.value ?? Buffer.alloc(0),
            headers: headersOf(m.headers)
          }))
          const next = (BigInt(messages[messages.length - 1]!.offset) + 1n).toString()
          const commit = Effect.gen(function* () {
            // A batch that began before a group join does not commit: the partition may be another
            // member's now, further along. Its records come again from the committed offset.
            if (chunk.generation !== generation) return
            yield* attempt("commit", () => consumer.commitOffsets([{ topic, partition, offset: next }]))
            const lag = Math.max(0, Number(BigInt(highWatermark) - BigInt(next)))
            metrics.consumerLag.set({ topic, partition: String(partition) }, lag)
            progress.committed(partitionKey(topic, partition), Number(next), lag)
          })
          return Effect.zipRight(
            Effect.zipRight(earlierEnded(chunk.generation), flushRevoked),
            handler.onBatch({ topic, partition, records, commit, settled })
          )
        }

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

        // One lane per partition: a queue of fetched records and a fiber that hands them to the
        // stream as batches of what is there, up to `batchSize` (one fetch plus one commit at light
        // load, full batches under a backlog). kafkajs fetches its next round only when every
        // eachBatch of this one returned; eachBatch only queues, so one partition's slow batch holds
        // back its own lane, not the others' fetches. A full lane (LANE_BATCHES batches waiting)
        // makes eachBatch wait: that is the backpressure. Records queued before a rebalance are
        // dropped unhandled (kafkajs fetches them again from the committed offset, for their owner).
        const laneFibers = yield* FiberSet.make()
        const lanes = new Map<string, Queue.Queue<Queued>>()
        let closed = false
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            closed = true
            return Effect.forEach(lanes.values(), (queue) => Queue.shutdown(queue), { discard: true })
          })
        )

        /**
         * A batch that failed; true when the partition's next batch may go on. Of a partition still
         * owned: every partition is fetched again by a new consumer (a defect too: a lane never dies
         * silently). A failed commit only waits for the next one (commits are cumulative; a crash
         * redelivers), and a batch of an earlier group join is its new owner's to redo.
         */
        const laneFailed = (chunk: Chunk, cause: Cause.Cause<EventSourceError>) => {
          const failure = Cause.failureOption(cause)
          const ids = { topic: chunk.topic, partition: chunk.partition }
          if (chunk.generation !== generation)
            return Effect.as(
              Effect.logInfo("a batch of a partition revoked meanwhile failed; its new owner takes it", {
                ...ids,
                error: Cause.pretty(cause)
              }),
              false
            )
          if (Option.isSome(failure) && failure.value.operation === "commit")
            return Effect.as(
              Effect.logWarning("offset commit failed; the next batch's commit covers it", {
                ...ids,
                error: String(failure.value.cause)
              }),
              true
            )
          const error = Option.getOrElse(
            failure,
            () => new EventSourceError({ operation: "consume", cause: Cause.squash(cause) })
          )
          return Effect.sync(() => {
            Deferred.unsafeDone(crashed, Effect.fail(error))
            return false
          })
        }

        /** Handles a lane's failure with `laneFailed` (true: the lane goes on); an interruption passes. */
        const orLaneFailed =
          (chunk: Chunk) =>
          <A>(effect: Effect.Effect<A, EventSourceError, R>): Effect.Effect<A | boolean, never, R> =>
            Effect.catchAllCause(effect, (cause) =>
              // an interruption carries no failure
              Cause.isInterruptedOnly(cause)
                ? Effect.failCause(cause as Cause.Cause<never>)
                : laneFailed(chunk, cause)
            )

        /** The next batch of a lane: what is queued, up to `batchSize`, without the stale records. */
        const nextChunk = (queue: Queue.Queue<Queued>, topic: string, partition: number) =>
          Effect.map(Queue.takeBetween(queue, 1, config.batchSize), (taken): Chunk | null => {
            const current = [...taken].filter((q) => q.generation === generation)
            const last = current.at(-1)
            if (last === undefined) return null
            return {
              generation: last.generation,
              topic,
              partition,
              highWatermark: last.highWatermark,
              messages: current.map((q) => q.message)
            }
          })

        const laneOf = (topic: string, partition: number) =>
          Effect.suspend(() => {
            const key = partitionKey(topic, partition)
            const existing = lanes.get(key)
            if (existing !== undefined) return Effect.succeed(existing)
            if (closed) return Effect.interrupt // stopping: no new lane
            return Effect.gen(function* () {
              const queue = yield* Queue.bounded<Queued>(LANE_BATCHES * config.batchSize)
              lanes.set(key, queue)
              // A pipeline of two: the next batch is started (decoded, applied in memory) while
              // the previous one completes (persist, publish, commit); it completes only after the
              // previous one did, and is abandoned when that one failed — if both were fetched
              // under the same group join. A batch of an earlier join that failed (fenced after a
              // freeze, say) says nothing of one fetched since: the barrier made that one wait
              // for it and the revocation dropped its state. Abandoning the newer batch lost its
              // records, which kafkajs had already moved past (a turn lost in one run of six).
              let previous: {
                readonly fiber: Fiber.RuntimeFiber<boolean>
                readonly generation: number
              } | null = null
              const previousOk = (joined: number) =>
                Effect.suspend(() => {
                  const before = previous
                  if (before === null) return Effect.succeed(true)
                  return Effect.map(Fiber.join(before.fiber), (ok) => ok || before.generation !== joined)
                })
              const step = Effect.gen(function* () {
                const chunk = yield* nextChunk(queue, topic, partition)
                if (chunk === null) return
                yield* enter(chunk.generation)
                const settled = Effect.asVoid(previousOk(chunk.generation))
                const started = yield* startChunk(chunk, settled).pipe(
                  orLaneFailed(chunk),
                  Effect.map((batch) => (typeof batch === "boolean" ? null : batch)),
                  Effect.onExit((exit) =>
                    Exit.isSuccess(exit) && exit.value !== null ? Effect.void : leave(chunk.generation)
                  )
                )
                if (started === null) return
                if (!(yield* previousOk(chunk.generation))) {
                  yield* started.abandon.pipe(Effect.ensuring(leave(chunk.generation)))
                  previous = null
                  // Its records are behind kafkajs's fetch position: unless a group join will
                  // fetch them again anyway, only a new consumer (from the committed offset) does.
                  if (chunk.generation === generation)
                    Deferred.unsafeDone(
                      crashed,
                      Effect.fail(
                        new EventSourceError({ operation: "abandoned", cause: `${topic}/${partition}` })
                      )
                    )
                  return
                }
                const fiber = yield* Effect.fork(
                  started.complete.pipe(
                    Effect.as(true),
                    orLaneFailed(chunk),
                    Effect.map((ok) => ok === true),
                    Effect.ensuring(leave(chunk.generation))
                  )
                )
                previous = { fiber, generation: chunk.generation }
              })
              const work = Effect.forever(step)
              yield* FiberSet.run(laneFibers, work)
              return queue
            })
          })

        /** Queues a fetched batch on its lane, heartbeating while the lane is full. */
        const enqueue = (
          topic: string,
          partition: number,
          records: ReadonlyArray<Queued>,
          heartbeat: () => Promise<void>
        ) =>
          Effect.gen(function* () {
            const queue = yield* laneOf(topic, partition)
            const beat = yield* Effect.fork(
              attempt("heartbeat", heartbeat).pipe(
                Effect.ignore,
                Effect.repeat(Schedule.spaced(Duration.millis(config.heartbeatIntervalMs))),
                Effect.delay(Duration.millis(config.heartbeatIntervalMs))
              )
            )
            yield* Queue.offerAll(queue, records).pipe(Effect.ensuring(Fiber.interrupt(beat)))
          })

        const eachBatch = async (payload: EachBatchPayload) => {
          const { batch, heartbeat, isRunning, isStale, resolveOffset } = payload
          const { topic, partition, highWatermark, messages } = batch
          const taken = generation
          if (messages.length === 0 || !isRunning() || isStale()) return
          const records = messages.map((message) => ({ generation: taken, highWatermark, message }))
          // Fetched and not yet committed: readiness's stall clock starts now for a partition that
          // never committed since this process started (one stuck before it started, say).
          progress.lagged(
            partitionKey(topic, partition),
            Math.max(1, Number(BigInt(highWatermark) - BigInt(messages[0]!.offset)))
          )
          try {
            await runFork(enqueue(topic, partition, records, heartbeat))
          } catch {
            return // the lanes shut down: this consumer is stopping
          }
          // The next fetch starts after what is queued; only the stream's commits move the group's offset.
          if (taken === generation) resolveOffset(messages[messages.length - 1]!.offset)
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
        started = true
        progress.running(true)
        yield* Effect.addFinalizer(() => Effect.sync(() => progress.running(false)))
        return yield* Deferred.await(crashed)
      }).pipe(Effect.scoped)

    /**
     * Consumers one after another: one that stops (kafkajs gave it up, a lane failed, a partition
     * was fenced) or cannot start (the broker is down) is replaced after a backoff, and every
     * partition is fetched again from its committed offset. The service waits for its broker
     * instead of exiting (a restarted process would only find it down again).
     */
    const run = <R>(handler: BatchHandler<R>) =>
      Effect.gen(function* () {
        let failures = 0
        while (true) {
          const [ran, exit] = yield* Effect.timed(Effect.exit(runConsumer(handler)))
          if (Exit.isSuccess(exit) || Exit.isInterrupted(exit)) return yield* exit
          failures = Duration.greaterThanOrEqualTo(ran, RESET_AFTER) ? 1 : failures + 1
          const delay = restartDelay(failures)
          const error = Cause.squash(exit.cause)
          yield* Effect.logError(
            started ? "kafka consumer stopped; recreating it" : "kafka consumer could not start; retrying",
            {
              operation: error instanceof EventSourceError ? error.operation : "consume",
              error: String(error instanceof EventSourceError ? error.cause : error),
              retry_in_ms: Duration.toMillis(delay)
            }
          )
          yield* Effect.sleep(delay)
        }
      })

    return EventSource.of({ run })
  })

export const KafkaSourceLive = (config: KafkaSourceConfig) =>
  Layer.effect(EventSource, makeKafkaSource(config))
