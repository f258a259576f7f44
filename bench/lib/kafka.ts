/** Kafka helpers for the scenarios: the bootstrap address, topics of one run, producing the workload. */
import { Effect } from "effect"
import { CompressionTypes, Kafka, logLevel } from "kafkajs"
import { topicCatalogue } from "../../streams/topics"
import { kafkaClientLayer } from "../../src/app/layers"
import { ensureTopics } from "../../src/adapters/kafka/KafkaTopics"
import type { TrafficLine } from "../../src/dev/SyntheticTraffic"
import { ensureKafka } from "../../test/support/kafka"
import { wallMs } from "./measure"

export const brokerList = async () =>
  (await ensureKafka())
    .split(",")
    .map((b) => b.trim())
    .filter(Boolean)

export const kafkaFor = (brokers: ReadonlyArray<string>, clientId: string) =>
  new Kafka({ clientId, brokers: [...brokers], logLevel: logLevel.ERROR })

/** Creates the run's topics (turn events, DLQ, outputs) from the project's catalogue. */
export const createTopics = (brokers: ReadonlyArray<string>, prefix: string, partitions: number) =>
  Effect.runPromise(
    ensureTopics(topicCatalogue(prefix, partitions)).pipe(Effect.provide(kafkaClientLayer(brokers)))
  )

export const deleteTopics = async (brokers: ReadonlyArray<string>, prefix: string) => {
  const admin = kafkaFor(brokers, "turnvault-bench-admin").admin()
  await admin.connect()
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix))
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 })
  } finally {
    await admin.disconnect()
  }
}

/** Produces every line as fast as the broker takes it (batches of `chunk`), keyed by session id. */
export const produceAll = async (
  brokers: ReadonlyArray<string>,
  topic: string,
  lines: ReadonlyArray<TrafficLine>,
  chunk = 2_000
) => {
  const producer = kafkaFor(brokers, "turnvault-bench-producer").producer({ allowAutoTopicCreation: false })
  await producer.connect()
  const started = wallMs()
  try {
    for (let i = 0; i < lines.length; i += chunk) {
      await producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.None,
        messages: lines.slice(i, i + chunk).map((l) => ({ key: l.key, value: l.value }))
      })
    }
  } finally {
    await producer.disconnect()
  }
  return { ms: wallMs() - started }
}
