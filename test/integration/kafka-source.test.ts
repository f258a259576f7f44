// Both Kafka sources (kafkajs's KafkaSource, @platformatic/kafka's PlatformaticSource) against a
// REAL single-node Kafka broker: a partition whose batch is slow does not hold back the others
// (each partition has its own lane), batches take what is queued up to the batch size, every
// partition is handled in order and committed to its end, and a partition's next batch is started
// while the previous one completes, then completes after it.
import { randomUUID } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { Kafka, logLevel } from "kafkajs"
import { KafkaClient } from "../../src/adapters/kafka/KafkaClient"
import { makeKafkaSource } from "../../src/adapters/kafka/KafkaSource"
import { makePlatformaticSource } from "../../src/adapters/kafka/PlatformaticSource"
import { makeConsumerProgress } from "../../src/observability/ConsumerProgress"
import { Metrics } from "../../src/observability/Metrics"
import type { SourceBatch, StartedBatch } from "../../src/ports/EventSource"
import { KAFKA_UP_TIMEOUT_MS, kafkaBrokers } from "../support/kafka"

const BATCH_SIZE = 4

/** A fresh topic of `partitions` partitions on the broker, its group's name and a producer for it. */
const withTopic = (partitions: number) =>
  Effect.gen(function* () {
    const brokers = yield* Effect.promise(() => kafkaBrokers())
    const runId = randomUUID().slice(0, 8)
    const topic = `it-kafka-source-${runId}`
    const group = `it-kafka-source-group-${runId}`
    const kafka = new Kafka({ clientId: `it-${runId}`, brokers, logLevel: logLevel.WARN })
    const admin = kafka.admin()
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    yield* Effect.acquireRelease(
      Effect.promise(async () => {
        await admin.connect()
        await producer.connect()
        await admin.createTopics({
          waitForLeaders: true,
          topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }]
        })
      }),
      () =>
        Effect.promise(async () => {
          await producer.disconnect()
          await admin.deleteGroups([group]).catch(() => {})
          await admin.deleteTopics({ topics: [topic] }).catch(() => {})
          await admin.disconnect()
        })
    )
    const send = (partition: number, from: number, count: number) =>
      Effect.promise(() =>
        producer.send({
          topic,
          acks: -1,
          messages: Array.from({ length: count }, (_, i) => ({
            partition,
            key: `p${partition}`,
            value: String(from + i)
          }))
        })
      )

    return { runId, topic, group, send, admin, brokers }
  })

type Client = "kafkajs" | "platformatic"

const sourceOn = (client: Client, brokers: Array<string>, runId: string, topic: string, group: string) => {
  const common = {
    topics: [topic],
    group,
    batchSize: BATCH_SIZE,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 1_000,
    progress: makeConsumerProgress()
  }
  return (
    client === "kafkajs"
      ? makeKafkaSource({ ...common, partitionsConcurrently: 2 })
      : makePlatformaticSource({ ...common, brokers, clientId: `it-${runId}-source` })
  ).pipe(
    Effect.provide(
      Layer.merge(KafkaClient.layer({ brokers, clientId: `it-${runId}-source` }), Metrics.layerTest)
    )
  )
}

/** A batch with nothing to start: all of it runs when it completes. */
const completing = (complete: Effect.Effect<void, unknown>): StartedBatch<never> => ({
  complete: Effect.orDie(complete),
  abandon: Effect.void
})

describe.each(["kafkajs", "platformatic"] as const)("Kafka source over %s (real broker)", (client) => {
  it.live(
    "a partition held in its batch does not stop the others; each is handled in order to its end",
    () =>
      Effect.gen(function* () {
        const { runId, topic, group, send, admin, brokers } = yield* withTopic(2)
        const seen = new Map<number, Array<Array<string>>>([
          [0, []],
          [1, []]
        ])
        const held = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const partitionOneDone = yield* Deferred.make<void>()
        const allDone = yield* Deferred.make<void>()
        const count = (p: number) => seen.get(p)!.flat().length
        const onBatch = (batch: SourceBatch) =>
          Effect.succeed(
            completing(
              Effect.gen(function* () {
                seen.get(batch.partition)!.push(batch.records.map((r) => r.value.toString()))
                if (batch.partition === 0 && count(0) <= 3) {
                  yield* Deferred.succeed(held, undefined)
                  yield* Deferred.await(release)
                }
                yield* batch.commit
                if (batch.partition === 1 && count(1) === 10)
                  yield* Deferred.succeed(partitionOneDone, undefined)
                if (count(0) === 13 && count(1) === 10) yield* Deferred.succeed(allDone, undefined)
              })
            )
          )

        const source = yield* sourceOn(client, brokers, runId, topic, group)
        yield* send(0, 0, 3)
        const running = yield* Effect.forkScoped(source.run({ onBatch, onRevoked: () => Effect.void }))
        // Closing the scope interrupts the source: nothing may still hold a batch then.
        yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
        // Partition 0's first batch is held; only then does partition 1 get its records.
        yield* Deferred.await(held)
        yield* send(1, 0, 10)
        yield* send(0, 3, 10)
        yield* Deferred.await(partitionOneDone).pipe(Effect.timeout("30 seconds"))
        expect(seen.get(0)).toEqual([["0", "1", "2"]])

        yield* Deferred.succeed(release, undefined)
        yield* Deferred.await(allDone).pipe(Effect.timeout("30 seconds"))
        for (const [p, total] of [
          [0, 13],
          [1, 10]
        ] as const) {
          const batches = seen.get(p)!
          expect(batches.flat()).toEqual(Array.from({ length: total }, (_, i) => String(i)))
          expect(batches.every((b) => b.length >= 1 && b.length <= BATCH_SIZE)).toBe(true)
        }
        // The batch started beside the held one took what had arrived; what queued behind it came
        // as full batches, not one per fetch.
        expect(
          seen
            .get(0)!
            .slice(2, 4)
            .map((b) => b.length)
        ).toEqual([BATCH_SIZE, BATCH_SIZE])
        yield* Fiber.interrupt(running)
        const committed = yield* Effect.promise(() => admin.fetchOffsets({ groupId: group, topics: [topic] }))
        expect(
          Object.fromEntries((committed[0]?.partitions ?? []).map((p) => [p.partition, p.offset]))
        ).toEqual({ 0: "13", 1: "10" })
      }).pipe(Effect.scoped),
    KAFKA_UP_TIMEOUT_MS
  )

  it.live(
    "a partition's next batch is started while the previous one completes, and completes after it",
    () =>
      Effect.gen(function* () {
        const { runId, topic, group, send, brokers } = yield* withTopic(1)
        const steps: Array<string> = []
        const secondStarted = yield* Deferred.make<void>()
        const done = yield* Deferred.make<void>()
        const onBatch = (batch: SourceBatch) =>
          Effect.sync(() => {
            const first = batch.records[0]!.value.toString()
            steps.push(`start ${first}`)
            if (first !== "0") Deferred.unsafeDone(secondStarted, Effect.void)
            return {
              complete: Effect.gen(function* () {
                steps.push(`complete ${first}`)
                // the first batch completes only once the second has been started beside it
                if (first === "0") yield* Deferred.await(secondStarted)
                yield* Effect.orDie(batch.commit)
                steps.push(`completed ${first}`)
                if (first === "4") yield* Deferred.succeed(done, undefined)
              }),
              abandon: Effect.void
            } satisfies StartedBatch<never>
          })
        const source = yield* sourceOn(client, brokers, runId, topic, group)
        yield* send(0, 0, 8)
        const running = yield* Effect.forkScoped(source.run({ onBatch, onRevoked: () => Effect.void }))
        yield* Deferred.await(done).pipe(Effect.timeout("30 seconds"))
        yield* Fiber.interrupt(running)
        const at = (step: string) => steps.indexOf(step)
        expect([...steps].sort()).toEqual(
          ["complete 0", "complete 4", "completed 0", "completed 4", "start 0", "start 4"].sort()
        )
        // started beside the first one's completion; completed only after it
        expect(at("start 4")).toBeLessThan(at("completed 0"))
        expect(at("complete 4")).toBeGreaterThan(at("completed 0"))
      }).pipe(Effect.scoped),
    KAFKA_UP_TIMEOUT_MS
  )

  it.live(
    "a rebalance while never-committed partitions' first batches are held: every record comes again to its owner",
    () =>
      Effect.gen(function* () {
        const { runId, topic, group, send, admin, brokers } = yield* withTopic(2)
        // offsets each partition's owner completed after the rebalance
        const handled = new Map<number, Set<string>>([
          [0, new Set()],
          [1, new Set()]
        ])
        const heldPartitions = new Set<number>()
        const held = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const completing = (batch: SourceBatch, hold: boolean): StartedBatch<never> => ({
          complete: Effect.gen(function* () {
            if (hold) yield* Deferred.await(release)
            else for (const r of batch.records) handled.get(batch.partition)!.add(r.offset)
            yield* Effect.orDie(batch.commit)
          }),
          abandon: Effect.void
        })
        // The first member holds the first batch of each partition (nothing committed yet) until
        // a second member has joined: the records it held must come again, to whoever owns them.
        const first = (batch: SourceBatch) =>
          Effect.sync(() => {
            const hold = !heldPartitions.has(batch.partition)
            heldPartitions.add(batch.partition)
            if (heldPartitions.size === 2) Deferred.unsafeDone(held, Effect.void)
            return completing(batch, hold)
          })
        const second = (batch: SourceBatch) => Effect.succeed(completing(batch, false))
        const a = yield* sourceOn(client, brokers, `${runId}a`, topic, group)
        const b = yield* sourceOn(client, brokers, `${runId}b`, topic, group)
        yield* send(0, 0, 3)
        yield* send(1, 0, 3)
        yield* Effect.forkScoped(a.run({ onBatch: first, onRevoked: () => Effect.void }))
        yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
        yield* Deferred.await(held).pipe(Effect.timeout("30 seconds"))
        yield* Effect.forkScoped(b.run({ onBatch: second, onRevoked: () => Effect.void }))
        yield* Effect.promise(async () => {
          for (;;) {
            const described = (await admin.describeGroups([group])).groups[0]
            if (described?.state === "Stable" && described.members.length === 2) return
            await new Promise((resolve) => setTimeout(resolve, 100))
          }
        }).pipe(Effect.timeout("30 seconds"))
        yield* Deferred.succeed(release, undefined)
        yield* send(0, 3, 3)
        yield* send(1, 3, 3)
        const all = ["0", "1", "2", "3", "4", "5"]
        const missing = () =>
          [...handled].flatMap(([p, offsets]) => all.filter((o) => !offsets.has(o)).map((o) => `${p}/${o}`))
        yield* Effect.sleep("100 millis").pipe(
          Effect.repeat({ while: () => missing().length > 0 }),
          Effect.timeout("30 seconds"),
          Effect.catchAll(() => Effect.void)
        )
        expect(missing()).toEqual([])
        const committed = yield* Effect.promise(() => admin.fetchOffsets({ groupId: group, topics: [topic] }))
        expect(
          Object.fromEntries((committed[0]?.partitions ?? []).map((p) => [p.partition, p.offset]))
        ).toEqual({ 0: "6", 1: "6" })
      }).pipe(Effect.scoped),
    KAFKA_UP_TIMEOUT_MS
  )
})
