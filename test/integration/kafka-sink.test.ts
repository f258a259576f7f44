// Both Kafka output sinks (kafkajs's KafkaSinkLive, @platformatic/kafka's PlatformaticSinkLive)
// against a REAL single-node Kafka broker: concurrent publishes (sent in groups) each keep its own
// order, one publish the broker refuses (a record over its size limit) fails alone, one publish
// larger than a topic's limit in total goes out as several requests, in order, and keys land on
// Java's murmur2 partition (12 partitions: a count that is not a power of two).
import { randomUUID } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Either, Layer } from "effect"
import { type ITopicConfig, Kafka, logLevel } from "kafkajs"
import { KafkaClient } from "../../src/adapters/kafka/KafkaClient"
import { KafkaSinkLive } from "../../src/adapters/kafka/KafkaSink"
import { PlatformaticSinkLive } from "../../src/adapters/kafka/PlatformaticSink"
import { OutputSink } from "../../src/ports/OutputSink"
import { KAFKA_UP_TIMEOUT_MS, kafkaBrokers } from "../support/kafka"
import { partitionOf } from "../support/turnvaultProcess"

type SinkLayer = (brokers: Array<string>, clientId: string) => Layer.Layer<OutputSink, unknown>

const sinks: ReadonlyArray<readonly [string, SinkLayer]> = [
  [
    "kafkajs",
    (brokers, clientId) => KafkaSinkLive.pipe(Layer.provide(KafkaClient.layer({ brokers, clientId })))
  ],
  ["@platformatic/kafka", (brokers, clientId) => PlatformaticSinkLive({ brokers, clientId })]
]

/**
 * A topic of its own for the test's scope (deleted at the end), a KafkaSink built in that scope
 * (its producer and sender fiber live until the end), and a reader of what arrived.
 */
const sinkOnTopic = (makeSink: SinkLayer, label: string, topicConfig: Omit<ITopicConfig, "topic">) =>
  Effect.gen(function* () {
    const brokers = yield* Effect.promise(() => kafkaBrokers())
    const runId = randomUUID().slice(0, 8)
    const topic = `it-kafka-sink-${label}-${runId}`
    const kafka = new Kafka({ clientId: `it-${runId}`, brokers, logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    yield* Effect.acquireRelease(
      Effect.promise(async () => {
        await admin.connect()
        await admin.createTopics({ waitForLeaders: true, topics: [{ topic, ...topicConfig }] })
      }),
      () =>
        Effect.promise(async () => {
          await admin.deleteTopics({ topics: [topic] }).catch(() => {})
          await admin.disconnect()
        })
    )
    const sink = Context.get(yield* Layer.build(makeSink(brokers, `it-${runId}-sink`)), OutputSink)
    /** The first `count` messages of the topic, from the beginning. */
    const consume = (count: number) => {
      const consumer = kafka.consumer({ groupId: `it-kafka-sink-${label}-${runId}`, maxWaitTimeInMs: 200 })
      const received: Array<{ key: string; value: string; partition: number }> = []
      return Effect.promise(async () => {
        await consumer.connect()
        await consumer.subscribe({ topics: [topic], fromBeginning: true })
        await new Promise<void>((resolve) => {
          void consumer.run({
            eachMessage: async ({ message, partition }) => {
              received.push({ key: message.key!.toString(), value: message.value!.toString(), partition })
              if (received.length === count) resolve()
            }
          })
        })
        await consumer.disconnect()
        return received
      }).pipe(Effect.timeout("30 seconds"))
    }
    return { topic, sink, consume }
  })

describe.each(sinks)("%s output sink (real broker)", (_, makeSink) => {
  it.live(
    "concurrent publishes all arrive in their own order; a refused one fails without the others",
    () =>
      Effect.gen(function* () {
        const { topic, sink, consume } = yield* sinkOnTopic(makeSink, "groups", {
          numPartitions: 2,
          replicationFactor: 1
        })
        const publish = (key: string, values: ReadonlyArray<string>) =>
          Effect.either(sink.publish(values.map((value) => ({ topic, key, value }))))
        // 20 publishes of 5 messages at once, and one 2 MB record (the broker takes 1 MB) among them
        const small = Array.from({ length: 20 }, (_, p) =>
          publish(
            `k${p}`,
            Array.from({ length: 5 }, (_, i) => `${p}:${i}`)
          )
        )
        const results = yield* Effect.all(
          [...small.slice(0, 10), publish("big", ["x".repeat(2_000_000)]), ...small.slice(10)],
          { concurrency: "unbounded" }
        )
        expect(results.map(Either.isRight)).toEqual([...Array(10).fill(true), false, ...Array(10).fill(true)])

        const received = yield* consume(100)
        expect(received).toHaveLength(100)
        for (let p = 0; p < 20; p++)
          expect(received.filter((m) => m.key === `k${p}`).map((m) => m.value)).toEqual(
            Array.from({ length: 5 }, (_, i) => `${p}:${i}`)
          )
      }).pipe(Effect.scoped),
    KAFKA_UP_TIMEOUT_MS
  )

  it.live(
    "one publish of 3 MB to one partition of a topic that takes 1 MiB + 64 KiB arrives whole, in order",
    () =>
      Effect.gen(function* () {
        const { topic, sink, consume } = yield* sinkOnTopic(makeSink, "big", {
          numPartitions: 1,
          replicationFactor: 1,
          // what the topic catalogue gives an event-sized topic at the default maximum
          configEntries: [{ name: "max.message.bytes", value: String(1024 * 1024 + 64 * 1024) }]
        })
        const values = Array.from({ length: 30 }, (_, i) => `${i}:${"v".repeat(100_000)}`)
        yield* sink.publish(values.map((value) => ({ topic, key: "one", value })))
        const received = yield* consume(values.length)
        expect(received.map((m) => m.value.slice(0, m.value.indexOf(":")))).toEqual(
          values.map((_, i) => String(i))
        )
      }).pipe(Effect.scoped),
    KAFKA_UP_TIMEOUT_MS
  )

  it.live(
    "puts each key on Java's murmur2 partition",
    () =>
      Effect.gen(function* () {
        const { topic, sink, consume } = yield* sinkOnTopic(makeSink, "placement", {
          numPartitions: 12,
          replicationFactor: 1
        })
        const keys = Array.from({ length: 200 }, (_, i) => `sess-${i}`)
        yield* sink.publish(keys.map((key) => ({ topic, key, value: key })))
        const received = yield* consume(keys.length)
        expect(received.filter((m) => m.partition !== partitionOf(m.key, 12))).toEqual([])
      }).pipe(Effect.scoped),
    KAFKA_UP_TIMEOUT_MS
  )
})
