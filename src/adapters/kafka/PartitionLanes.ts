/**
 * What a Kafka EventSource does whichever client fetches (DESIGN 2, 4): the group membership a
 * source keeps across its consumers, one lane per partition that hands fetched records to the
 * stream as batches of at most `batchSize`, and the supervisor that replaces a consumer that
 * stopped. KafkaSource (kafkajs) and PlatformaticSource (@platformatic/kafka) only fetch, commit
 * and report group joins; both run these same lanes, so both keep the same guarantees:
 *
 * - A lane's batches are started in order and complete one at a time, in order (a pipeline of
 *   two: the next one is started while the previous one completes).
 * - After a group join, no batch starts, and the stream hears of no revocation, until the batches
 *   that began before it ended: the stream never sees two owners' batches of one partition
 *   overlap, and a revocation never lands in the middle of a batch. Records fetched before the
 *   join are dropped unhandled (the client fetches them again from the committed offset).
 * - A full lane (LANE_BATCHES batches waiting) makes the fetcher wait: that is the backpressure.
 * - A batch that fails on a partition still owned fails the consumer (`crashed`); the supervisor
 *   then recreates it with backoff, and every partition is fetched again from its committed offset.
 */
import { Cause, Deferred, Duration, Effect, Exit, Fiber, FiberSet, Option, Queue, type Scope } from "effect"
import { type ConsumerProgress, partitionKey } from "../../observability/ConsumerProgress"
import type { MetricsService } from "../../observability/Metrics"
import { type BatchHandler, EventSourceError, type SourceRecord } from "../../ports/EventSource"

/** How many batches' worth of records a partition's lane holds before the fetcher waits. */
export const LANE_BATCHES = 2

/**
 * The group membership of one source, across the consumers it runs one after another: what it
 * owns, what it lost and has not told the stream yet, and how many group joins it has seen (a
 * record fetched under an earlier join is stale).
 */
export const makeMembership = (topics: ReadonlyArray<string>, progress: ConsumerProgress) => {
  let owned = new Map<string, ReadonlySet<number>>()
  let revoked: Array<{ readonly topic: string; readonly partitions: ReadonlyArray<number> }> = []
  let generation = 0
  return {
    /** The join count: records and batches carry the one they were fetched under. */
    generation: () => generation,
    /**
     * A group join assigned `assignment` (topic → partitions). Both clients rebalance eagerly
     * (every partition is revoked, then assigned again), and telling the stream so, not only of
     * the partitions that moved, makes it claim each one anew: a member fenced as a zombie that
     * rejoined owns its partitions again.
     */
    joined: (assignment: (topic: string) => ReadonlyArray<number>) => {
      const assigned = new Map(topics.map((topic) => [topic, new Set(assignment(topic))] as const))
      progress.assigned(
        new Set([...assigned].flatMap(([topic, ps]) => [...ps].map((p) => partitionKey(topic, p))))
      )
      for (const [topic, partitions] of owned) {
        if (partitions.size > 0) revoked.push({ topic, partitions: [...partitions] })
      }
      owned = assigned
      generation += 1
    },
    /** What the last group join assigned, `topic: [partitions]` (for the log). */
    assignment: () =>
      Object.fromEntries([...owned].map(([topic, ps]) => [topic, [...ps].sort((a, b) => a - b)])),
    /** The revocations not yet told, once: the caller tells the stream. */
    takeRevoked: () => {
      const lost = revoked
      revoked = []
      return lost
    }
  }
}
export type Membership = ReturnType<typeof makeMembership>

/** A fetched record, as it waits in its partition's lane. */
export interface Fetched {
  readonly record: SourceRecord
  /** The group join it was fetched under (`Membership.generation`). */
  readonly generation: number
  /** The partition's end offset as the fetch saw it (for lag). */
  readonly highWatermark: string
  /** The leader epoch the record was written under, or -1 (committed with its offset). */
  readonly leaderEpoch: number
}

/** The records of one partition handed to the stream as one batch: at most `batchSize`. */
interface Chunk {
  readonly generation: number
  readonly topic: string
  readonly partition: number
  readonly highWatermark: string
  readonly leaderEpoch: number
  readonly records: ReadonlyArray<SourceRecord>
}

export interface LanesOptions {
  readonly batchSize: number
  readonly membership: Membership
  readonly progress: ConsumerProgress
  readonly metrics: MetricsService
  /** Commits `offset` (the one after the batch's last record) as the partition's position. */
  readonly commit: (topic: string, partition: number, offset: string, leaderEpoch: number) => Promise<void>
  /** Failed when a batch of a partition still owned failed: the consumer must be replaced. */
  readonly crashed: Deferred.Deferred<never, EventSourceError>
}

export const attempt = <A>(operation: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => new EventSourceError({ operation, cause }) })

/**
 * The lanes of one consumer's life. `enqueue` queues fetched records of one partition, in order,
 * waiting while the lane is full; it is interrupted once the lanes shut down (the consumer stops).
 */
export const makeLanes = <R>(handler: BatchHandler<R>, options: LanesOptions) =>
  Effect.gen(function* () {
    const { membership, progress, metrics, crashed } = options
    const current = membership.generation

    /**
     * Tells the stream about lost partitions, before it handles anything else, and logs the join
     * that took them (a rebalance is the first thing to read when a partition stops moving).
     */
    const flushRevoked = Effect.suspend(() => {
      const lost = membership.takeRevoked()
      if (lost.length === 0) return Effect.void
      return Effect.zipRight(
        Effect.logInfo("group joined: partitions revoked and assigned", {
          generation: current(),
          assigned: membership.assignment()
        }),
        Effect.forEach(lost, (r) => handler.onRevoked(r.topic, r.partitions), { discard: true })
      )
    })

    // Chunks started and not yet completed (or abandoned), per group join they were fetched under.
    const running = new Map<number, number>()
    const enter = (joined: number) => Effect.sync(() => running.set(joined, (running.get(joined) ?? 0) + 1))
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
     * join, it waits for the chunks that began before the join (see the module's comment).
     */
    const startChunk = (chunk: Chunk, settled: Effect.Effect<void>) => {
      const { topic, partition, records, highWatermark } = chunk
      const next = (BigInt(records[records.length - 1]!.offset) + 1n).toString()
      const commit = Effect.gen(function* () {
        // A batch that began before a group join does not commit: the partition may be another
        // member's now, further along. Its records come again from the committed offset.
        if (chunk.generation !== current()) return
        yield* attempt("commit", () => options.commit(topic, partition, next, chunk.leaderEpoch))
        const lag = Math.max(0, Number(BigInt(highWatermark) - BigInt(next)))
        metrics.consumerLag.set({ topic, partition: String(partition) }, lag)
        progress.committed(partitionKey(topic, partition), Number(next), lag)
      })
      return Effect.zipRight(
        Effect.zipRight(earlierEnded(chunk.generation), flushRevoked),
        handler.onBatch({ topic, partition, records, commit, settled })
      )
    }

    const laneFibers = yield* FiberSet.make()
    const lanes = new Map<string, Queue.Queue<Fetched>>()
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
      if (chunk.generation !== current())
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
    const nextChunk = (queue: Queue.Queue<Fetched>, topic: string, partition: number) =>
      Effect.map(Queue.takeBetween(queue, 1, options.batchSize), (taken): Chunk | null => {
        const fresh = [...taken].filter((q) => q.generation === current())
        const last = fresh.at(-1)
        if (last === undefined) return null
        return {
          generation: last.generation,
          topic,
          partition,
          highWatermark: last.highWatermark,
          leaderEpoch: last.leaderEpoch,
          records: fresh.map((q) => q.record)
        }
      })

    const laneOf = (topic: string, partition: number) =>
      Effect.suspend(() => {
        const key = partitionKey(topic, partition)
        const existing = lanes.get(key)
        if (existing !== undefined) return Effect.succeed(existing)
        if (closed) return Effect.interrupt // stopping: no new lane
        return Effect.gen(function* () {
          const queue = yield* Queue.bounded<Fetched>(LANE_BATCHES * options.batchSize)
          lanes.set(key, queue)
          // A pipeline of two: the next batch is started (decoded, applied in memory) while the
          // previous one completes (persist, publish, commit); it completes only after the
          // previous one did, and is abandoned when that one failed — if both were fetched under
          // the same group join. A batch of an earlier join that failed (fenced after a freeze,
          // say) says nothing of one fetched since: the barrier made that one wait for it and the
          // revocation dropped its state. Abandoning the newer batch lost its records, which the
          // client had already moved past (a turn lost in one run of six).
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
              // Its records are behind the client's fetch position: unless a group join will
              // fetch them again anyway, only a new consumer (from the committed offset) does.
              if (chunk.generation === current())
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
          yield* FiberSet.run(laneFibers, Effect.forever(step))
          return queue
        })
      })

    /** Queues fetched records of one partition on its lane, waiting while the lane is full. */
    const enqueue = (topic: string, partition: number, records: ReadonlyArray<Fetched>) =>
      Effect.gen(function* () {
        const first = records[0]
        if (first === undefined) return
        // Fetched and not yet committed: readiness's stall clock starts now for a partition that
        // never committed since this process started (one stuck before it started, say).
        progress.lagged(
          partitionKey(topic, partition),
          Math.max(1, Number(BigInt(first.highWatermark) - BigInt(first.record.offset)))
        )
        const queue = yield* laneOf(topic, partition)
        yield* Queue.offerAll(queue, records)
      })

    return { enqueue }
  })

/**
 * Backoff before the next consumer after `failures` in a row: 1 s doubling, at most 30 s. A consumer
 * that ran for RESET_AFTER before it stopped starts a new series: a member thawed after a freeze
 * (evicted, its partitions fenced) rejoins within a second each time, not ever later.
 */
const restartDelay = (failures: number) => Duration.seconds(Math.min(30, 2 ** Math.min(failures - 1, 5)))
const RESET_AFTER = Duration.seconds(60)

/**
 * Consumers one after another: `consumer` sets one up (in the scope of its life) and fails
 * `crashed` when it stops. One that stops (the client gave it up, a lane failed, a partition was
 * fenced) or cannot start (the broker is down) is replaced after a backoff, and every partition
 * is fetched again from its committed offset. The service waits for its broker instead of exiting
 * (a restarted process would only find it down again).
 */
export const superviseConsumers = <R>(
  progress: ConsumerProgress,
  consumer: (crashed: Deferred.Deferred<never, EventSourceError>) => Effect.Effect<void, EventSourceError, R>
): Effect.Effect<never, EventSourceError, Exclude<R, Scope.Scope>> => {
  let started = false
  const life = Effect.gen(function* () {
    const crashed = yield* Deferred.make<never, EventSourceError>()
    yield* consumer(crashed)
    started = true
    progress.running(true)
    yield* Effect.addFinalizer(() => Effect.sync(() => progress.running(false)))
    return yield* Deferred.await(crashed)
  }).pipe(Effect.scoped)
  return Effect.gen(function* () {
    let failures = 0
    while (true) {
      const [ran, exit] = yield* Effect.timed(Effect.exit(life))
      if (Exit.isInterrupted(exit)) return yield* exit
      failures = Duration.greaterThanOrEqualTo(ran, RESET_AFTER) ? 1 : failures + 1
      const delay = restartDelay(failures)
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : "stopped"
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
}
