/**
 * EventSource over @platformatic/kafka (TURNVAULT_KAFKA_CONSUMER=platformatic): the maintained
 * client, behind the same port as KafkaSource and running the same lanes (PartitionLanes.ts). One
 * consumer of the group reads every topic through one messages stream in `committed` mode (the
 * group's committed offset, the earliest for a partition never committed), autocommit off: a
 * batch's `commit` commits its offset explicitly.
 *
 * Three things differ from kafkajs, and this file is about them:
 * - **Backpressure** is the stream's: the reader takes what the stream buffered and queues it on
 *   the lanes; while a lane is full the reader waits, the stream's buffer fills and it stops
 *   fetching. The client heartbeats on its own timer meanwhile.
 * - **Group joins.** After a join the stream fetches every partition again from its committed
 *   offset, but a fetch already in flight still delivers what it read, and a partition never
 *   committed keeps its read position. So the reader keeps, per partition, the offset the lanes
 *   need next under the current join: the committed offset (or the partition's earliest) once
 *   the join is known, then one past each record queued. A record below it is a duplicate and
 *   dropped; one above it is a gap: dropped, and the stream is rewound to the offset needed
 *   (paused while its fetches in flight land, `rewind`). A gap that survives REWINDS_BEFORE_GAP
 *   rewinds to the same offset is the log's (aborted transactions, compaction) and is accepted
 *   with a warning. Records read while a join's offsets are being listed are delivered under
 *   that join once they are known, never dropped. And a partition that lags (the offset needed
 *   is below its end) with nothing arriving for STALL_AFTER is rewound as a gap would be: a
 *   skipped fetch with no later record behind it would otherwise stall it for good.
 * - **Lag**: messages carry no high watermark, so the partitions' end offsets are listed every
 *   END_OFFSETS_EVERY.
 */
import { Consumer, ListOffsetTimestamps, type Message, type MessagesStream } from "@platformatic/kafka"
import { Deferred, Duration, Effect, Layer, Schedule } from "effect"
import { type ConsumerProgress, partitionKey } from "../../observability/ConsumerProgress"
import { Metrics } from "../../observability/Metrics"
import { type BatchHandler, EventSource, EventSourceError } from "../../ports/EventSource"
import { attempt, type Fetched, makeLanes, makeMembership, superviseConsumers } from "./PartitionLanes"

export interface PlatformaticSourceConfig {
  readonly brokers: ReadonlyArray<string>
  readonly clientId: string
  /** Every topic this group consumes (one consumer subscribes to all of them). */
  readonly topics: ReadonlyArray<string>
  readonly group: string
  readonly batchSize: number
  readonly sessionTimeoutMs: number
  readonly heartbeatIntervalMs: number
  readonly progress: ConsumerProgress
}

type Record_ = Message<Buffer, Buffer, Buffer, Buffer>

/** How many rewinds to the needed offset a gap must survive before it is taken as the log's. */
const REWINDS_BEFORE_GAP = 2
/** How long a paused stream's fetches in flight are given to land (the fetch wait is 250 ms). */
const REWIND_SETTLE = Duration.seconds(1)
const END_OFFSETS_EVERY = Duration.seconds(2)
/** A lagging partition with nothing delivered this long is rewound to the offset it needs. */
const STALL_AFTER_MS = 5_000
/** How long the reader waits for records before it looks for stalled partitions. */
const IDLE_LOOK = Duration.seconds(1)
/** Records the reader holds before it pauses the stream (the lanes hold the rest). */
const INBOX_MAX = 4096

/** The topic and partition of a `partitionKey` (topic names hold no "/"). */
const splitKey = (key: string): [string, number] => {
  const at = key.lastIndexOf("/")
  return [key.slice(0, at), Number(key.slice(at + 1))]
}

const headersOf = (headers: Map<Buffer, Buffer>): Record<string, string> => {
  const result: Record<string, string> = {}
  for (const [name, value] of headers) result[name.toString()] = value.toString()
  return result
}

export const makePlatformaticSource = (config: PlatformaticSourceConfig) =>
  Effect.gen(function* () {
    const metrics = yield* Metrics
    const { progress } = config
    const membership = makeMembership(config.topics, progress)

    /** Sets up one consumer and its messages stream; `crashed` fails when either gives up. */
    const runConsumer = <R>(handler: BatchHandler<R>, crashed: Deferred.Deferred<never, EventSourceError>) =>
      Effect.gen(function* () {
        const consumer = new Consumer({
          clientId: config.clientId,
          bootstrapBrokers: [...config.brokers],
          groupId: config.group,
          sessionTimeout: config.sessionTimeoutMs,
          heartbeatInterval: config.heartbeatIntervalMs,
          rebalanceTimeout: config.sessionTimeoutMs * 2,
          autocommit: false,
          // the default waits up to 5 s for data: an idle partition then stalls the others' fetch
          maxWaitTime: 250,
          maxBytesPerPartition: 1024 * 1024,
          autocreateTopics: false
        })

        // Per partition, the offset the stream was last rewound to and how often in a row.
        const rewinds = new Map<string, { readonly at: bigint; readonly count: number }>()
        /**
         * Where each assigned partition resumes: its committed offset, or its earliest when it has
         * none or the committed one is out of the log's range (as after a topic was recreated; the
         * client itself falls back the same way, `fallbackMode`). `reset` lists the latter.
         */
        const resumePositions = async () => {
          const assignments = consumer.assignments ?? []
          const positions = new Map<string, bigint>()
          const reset: Array<{ topic: string; partition: number; committed: string; earliest: string }> = []
          if (assignments.length === 0) return { positions, reset }
          const topics = [...config.topics]
          const [committed, earliest, latest] = await Promise.all([
            consumer.listCommittedOffsets({ topics: assignments }),
            consumer.listOffsets({ topics, timestamp: ListOffsetTimestamps.EARLIEST }),
            consumer.listOffsets({ topics, timestamp: ListOffsetTimestamps.LATEST })
          ])
          for (const { topic, partitions } of assignments) {
            for (const partition of partitions) {
              const offset = committed.get(topic)?.[partition] ?? -1n
              const first = earliest.get(topic)?.[partition] ?? 0n
              const end = latest.get(topic)?.[partition] ?? offset
              const inRange = offset >= first && offset <= end
              if (offset >= 0n && !inRange)
                reset.push({ topic, partition, committed: offset.toString(), earliest: first.toString() })
              positions.set(partitionKey(topic, partition), inRange ? offset : first)
            }
          }
          return { positions, reset }
        }
        // Per partition, the offset the lanes need next under the current join: known once the
        // join's committed offsets are (null before the first join).
        let needed: ReturnType<typeof resumePositions> | null = null
        consumer.on("consumer:group:join", (payload) => {
          membership.joined((topic) => payload.assignments?.find((a) => a.topic === topic)?.partitions ?? [])
          rewinds.clear()
          const positions = resumePositions()
          positions.catch(() => {}) // the reader awaits it and fails the consumer then
          needed = positions
        })
        // An error the client cannot recover from (a rejoin that failed, say) ends this consumer.
        consumer.on("error", (cause: unknown) =>
          Deferred.unsafeDone(crashed, Effect.fail(new EventSourceError({ operation: "group", cause })))
        )
        consumer.on("client:broker:connect", () => progress.connected(true))
        consumer.on("client:broker:disconnect", () => progress.connected(false))

        const stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> = yield* Effect.acquireRelease(
          attempt("consume", () =>
            consumer.consume({
              topics: [...config.topics],
              mode: "committed",
              fallbackMode: "earliest",
              autocommit: false,
              sessionTimeout: config.sessionTimeoutMs,
              heartbeatInterval: config.heartbeatIntervalMs,
              rebalanceTimeout: config.sessionTimeoutMs * 2
            })
          ),
          (stream) =>
            // Runs after the lanes closed (their batches in flight finished and committed).
            Effect.promise(async () => {
              await stream.close().catch(() => {})
              // leaving the group hands the partitions over now, not after the session timeout
              await consumer.close().catch(() => consumer.close(true))
            }).pipe(
              Effect.timeout(Duration.seconds(30)),
              Effect.ignore,
              Effect.ensuring(Effect.sync(() => progress.connected(false)))
            )
        )
        progress.connected(true)
        yield* Effect.logInfo("input consumer: @platformatic/kafka (TURNVAULT_KAFKA_CONSUMER=platformatic)")

        const lanes = yield* makeLanes(handler, {
          batchSize: config.batchSize,
          membership,
          progress,
          metrics,
          crashed,
          commit: (topic, partition, offset, leaderEpoch) =>
            consumer.commit({ offsets: [{ topic, partition, offset: BigInt(offset), leaderEpoch }] })
        })

        // The partitions' end offsets, for lag.
        const ends = new Map<string, bigint>()
        const recordEnds = (offsets: Map<string, Array<bigint>>) => {
          for (const [topic, partitions] of offsets) {
            for (const [partition, end] of partitions.entries()) ends.set(partitionKey(topic, partition), end)
          }
        }
        yield* attempt("end offsets", () => consumer.listOffsets({ topics: [...config.topics] })).pipe(
          Effect.map(recordEnds),
          Effect.ignore,
          Effect.repeat(Schedule.spaced(END_OFFSETS_EVERY)),
          Effect.forkScoped
        )

        // The stream flows into the inbox; the reader drains it. A full inbox pauses the stream.
        let inbox: Array<Record_> = []
        let wake: (() => void) | null = null
        // A fetch's records arrive as one synchronous run of "data" events: the reader wakes after
        // it (setImmediate), so a batch takes the whole fetch, not its first record.
        stream.on("data", (message: Record_) => {
          inbox.push(message)
          if (inbox.length >= INBOX_MAX) stream.pause()
          if (wake !== null) {
            const woken = wake
            wake = null
            setImmediate(woken)
          }
        })
        stream.on("error", (cause) =>
          Deferred.unsafeDone(crashed, Effect.fail(new EventSourceError({ operation: "consume", cause })))
        )
        stream.once("end", () =>
          Deferred.unsafeDone(
            crashed,
            Effect.fail(new EventSourceError({ operation: "consume", cause: "the messages stream ended" }))
          )
        )
        // Interrupted (the idle look's timeout), a take already scheduled must leave the inbox be.
        const takeInbox = Effect.async<ReadonlyArray<Record_>>((resume) => {
          let done = false
          const take = () => {
            if (done) return
            done = true
            wake = null
            const taken = inbox
            inbox = []
            if (stream.isPaused()) stream.resume()
            resume(Effect.succeed(taken))
          }
          if (inbox.length > 0) take()
          else wake = take
          return Effect.sync(() => {
            done = true
            if (wake === take) wake = null
          })
        })

        /** Per partition, when a record of it was last queued on the lanes (epoch ms). */
        const lastDelivered = new Map<string, number>()

        /** A fetched message as the lanes take it, tagged with the group join it is read under. */
        const fetched = (message: Record_, joined: number, key: string): Fetched => ({
          generation: joined,
          highWatermark: (ends.get(key) ?? message.offset + 1n).toString(),
          leaderEpoch: message.leaderEpoch,
          record: {
            topic: message.topic,
            partition: message.partition,
            offset: message.offset.toString(),
            key: message.key === undefined || message.key === null ? null : message.key.toString("utf8"),
            value: message.value ?? Buffer.alloc(0),
            headers: headersOf(message.headers)
          }
        })

        /**
         * Queues on the lanes the messages that are, each, the record its partition needs next
         * (see the module's comment), and returns the partitions that showed a gap. A gap the
         * stream was already rewound for, twice, at the same offset is the log's: it is accepted
         * and logged.
         */
        const deliver = (messages: ReadonlyArray<Record_>, positions: Map<string, bigint>) =>
          Effect.gen(function* () {
            const joined = membership.generation()
            const byPartition = new Map<string, Array<Fetched>>()
            const gapped = new Map<string, Record_>()
            for (const message of messages) {
              const key = partitionKey(message.topic, message.partition)
              const next = positions.get(key)
              if (next === undefined || message.offset < next || gapped.has(key)) continue
              if (message.offset > next) {
                const rewound = rewinds.get(key)
                if (rewound === undefined || rewound.at !== next || rewound.count < REWINDS_BEFORE_GAP) {
                  gapped.set(key, message)
                  continue
                }
                yield* Effect.logWarning("offsets absent from the log; consuming on after them", {
                  topic: message.topic,
                  partition: message.partition,
                  from: next.toString(),
                  to: (message.offset - 1n).toString()
                })
              }
              rewinds.delete(key)
              positions.set(key, message.offset + 1n)
              lastDelivered.set(key, Date.now())
              const records = byPartition.get(key) ?? []
              if (records.length === 0) byPartition.set(key, records)
              records.push(fetched(message, joined, key))
            }
            for (const records of byPartition.values()) {
              const first = records[0]!.record
              yield* lanes.enqueue(first.topic, first.partition, records)
            }
            return gapped
          })

        /**
         * Points the stream back at the offsets the gapped partitions need. A fetch in flight would
         * overwrite a read position set now, so the stream is paused first, the fetches in flight
         * are let land (REWIND_SETTLE) and what they brought is delivered (their gaps dropped
         * unrewound), and only then are the positions set and the stream resumed.
         */
        const rewind = (
          gapped: ReadonlyMap<
            string,
            { readonly topic: string; readonly partition: number; readonly offset: bigint }
          >,
          positions: Map<string, bigint>
        ) =>
          Effect.gen(function* () {
            stream.pause()
            yield* Effect.sleep(REWIND_SETTLE)
            const late = inbox
            inbox = []
            yield* deliver(late, positions)
            const rewound: Array<{ topic: string; partition: number; from: string; to: string }> = []
            for (const [key, message] of gapped) {
              const next = positions.get(key)
              if (next === undefined) continue
              const before = rewinds.get(key)
              rewinds.set(key, { at: next, count: before?.at === next ? before.count + 1 : 1 })
              // the stream's own key for the partition
              stream.offsetsToFetch.set(`${message.topic}:${message.partition}`, next)
              rewound.push({
                topic: message.topic,
                partition: message.partition,
                from: message.offset.toString(),
                to: next.toString()
              })
            }
            stream.resume()
            yield* Effect.logInfo("stream rewound to the offsets its lanes need next", {
              partitions: rewound
            })
          })

        /**
         * The lagging partitions nothing arrived for in STALL_AFTER_MS, as gaps at the offset they
         * need (at most REWINDS_BEFORE_GAP times at one offset: then the log's end is taken as
         * unreachable, control records say, until the partition moves).
         */
        const stalled = (positions: ReadonlyMap<string, bigint>) => {
          const now = Date.now()
          const found = new Map<string, { topic: string; partition: number; offset: bigint }>()
          for (const [key, next] of positions) {
            const end = ends.get(key)
            if (end === undefined || next >= end) continue
            const since = lastDelivered.get(key)
            if (since === undefined) {
              lastDelivered.set(key, now)
              continue
            }
            if (now - since < STALL_AFTER_MS) continue
            const rewound = rewinds.get(key)
            if (rewound !== undefined && rewound.at === next && rewound.count >= REWINDS_BEFORE_GAP) continue
            const [topic, partition] = splitKey(key)
            found.set(key, { topic, partition, offset: end })
            lastDelivered.set(key, now)
          }
          return found
        }

        const read = Effect.gen(function* () {
          const taken = yield* takeInbox.pipe(
            Effect.timeout(IDLE_LOOK),
            Effect.orElseSucceed((): ReadonlyArray<Record_> => [])
          )
          // Under the latest join: a join while its offsets are listed makes them moot, and the
          // records taken are delivered under the next one's (never dropped: the stream has moved
          // past them, and a partition with nothing behind them would wait for ever).
          for (;;) {
            const generation = membership.generation()
            if (needed === null) return
            const joinedNeeded = needed
            const { positions, reset } = yield* attempt("committed offsets", () => joinedNeeded)
            if (generation !== membership.generation()) continue
            for (const partition of reset.splice(0))
              yield* Effect.logWarning("Offset out of range, resetting to the earliest offset", partition)
            const gapped: Map<string, { topic: string; partition: number; offset: bigint }> = new Map(
              [...(yield* deliver(taken, positions))].map(([key, m]) => [
                key,
                { topic: m.topic, partition: m.partition, offset: m.offset }
              ])
            )
            if (taken.length === 0) {
              const idle = stalled(positions)
              if (idle.size > 0) {
                yield* Effect.logWarning("partitions lag with nothing arriving; rewinding the stream", {
                  partitions: [...idle.values()].map((p) => ({ topic: p.topic, partition: p.partition }))
                })
                for (const [key, gap] of idle) gapped.set(key, gap)
              }
            }
            if (gapped.size > 0) yield* rewind(gapped, positions)
            return
          }
        })
        yield* read.pipe(
          Effect.forever,
          Effect.catchAll((error) => Deferred.fail(crashed, error)),
          Effect.forkScoped
        )
      })

    return EventSource.of({
      run: (handler) => superviseConsumers(progress, (crashed) => runConsumer(handler, crashed))
    })
  })

export const PlatformaticSourceLive = (config: PlatformaticSourceConfig) =>
  Layer.effect(EventSource, makePlatformaticSource(config))
