// Integration test against a REAL single-node Kafka broker (scripts/kafka/up.sh
// or KAFKA_BROKERS): topic admin, idempotent producer, consumer group from
// earliest with per-key ordering, manual commit, committed offsets via admin.
import { randomUUID } from "node:crypto"
import { type Admin, type EachMessagePayload, Kafka, logLevel, Partitioners } from "kafkajs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { KAFKA_UP_TIMEOUT_MS, kafkaBrokers } from "../support/kafka"

const PARTITIONS = 3
const KEYS = 6
const PER_KEY = 5
const TOTAL = KEYS * PER_KEY // 30

describe("kafka broker (real, KRaft)", () => {
  const runId = randomUUID().slice(0, 8)
  const topic = `it-kafka-broker-${runId}`
  const groupId = `it-kafka-broker-group-${runId}`
  let kafka: Kafka
  let admin: Admin

  beforeAll(async () => {
    kafka = new Kafka({
      clientId: `turnvault-it-${runId}`,
      brokers: await kafkaBrokers(),
      logLevel: logLevel.WARN
    })
    admin = kafka.admin()
    await admin.connect()
  }, KAFKA_UP_TIMEOUT_MS)

  afterAll(async () => {
    if (!admin) return
    await admin.deleteGroups([groupId]).catch(() => {})
    await admin.deleteTopics({ topics: [topic] }).catch(() => {})
    await admin.disconnect()
  })

  it("creates a 3-partition topic, produces 30 keyed messages idempotently, consumes them in per-key order and commits", async () => {
    const created = await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }]
    })
    expect(created).toBe(true)
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] })
    expect(metadata.topics[0]?.partitions).toHaveLength(PARTITIONS)

    // Interleave keys so per-key order is meaningful: k0#0, k1#0, ..., k5#0, k0#1, ...
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner
    })
    await producer.connect()
    try {
      const messages = Array.from({ length: TOTAL }, (_, i) => {
        const key = `k${i % KEYS}`
        const seq = Math.floor(i / KEYS)
        return { key, value: JSON.stringify({ key, seq }) }
      })
      const records = await producer.send({ topic, acks: -1, messages })
      expect(records.every((r) => r.errorCode === 0)).toBe(true)
    } finally {
      await producer.disconnect()
    }

    const highWatermarks = await admin.fetchTopicOffsets(topic)
    expect(highWatermarks.reduce((sum, p) => sum + Number(p.high), 0)).toBe(TOTAL)

    const consumer = kafka.consumer({
      groupId,
      maxWaitTimeInMs: 500,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000
    })
    const received: Array<{ key: string; seq: number; partition: number; offset: string }> = []
    const nextOffset = new Map<number, string>()
    try {
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out with ${received.length}/${TOTAL} messages`)),
          30_000
        )
        consumer
          .run({
            autoCommit: false,
            eachMessage: async ({ partition, message }: EachMessagePayload) => {
              const body = JSON.parse(message.value?.toString() ?? "null") as { key: string; seq: number }
              expect(message.key?.toString()).toBe(body.key)
              received.push({ ...body, partition, offset: message.offset })
              nextOffset.set(partition, (BigInt(message.offset) + 1n).toString())
              if (received.length === TOTAL) {
                clearTimeout(timer)
                resolve()
              }
            }
          })
          .catch(reject)
      })

      expect(received).toHaveLength(TOTAL)
      for (let k = 0; k < KEYS; k++) {
        const ofKey = received.filter((m) => m.key === `k${k}`)
        expect(ofKey.map((m) => m.seq)).toEqual(Array.from({ length: PER_KEY }, (_, i) => i))
        // Same key -> same partition, offsets strictly increasing.
        expect(new Set(ofKey.map((m) => m.partition)).size).toBe(1)
        const offsets = ofKey.map((m) => BigInt(m.offset))
        expect(offsets.every((o, i) => i === 0 || o > (offsets[i - 1] as bigint))).toBe(true)
      }

      await consumer.commitOffsets(
        [...nextOffset].map(([partition, offset]) => ({ topic, partition, offset }))
      )
    } finally {
      await consumer.disconnect()
    }

    const committed = await admin.fetchOffsets({ groupId, topics: [topic] })
    const committedByPartition = Object.fromEntries(
      (committed[0]?.partitions ?? []).map((p) => [p.partition, p.offset])
    )
    const expected = Object.fromEntries(highWatermarks.map((p) => [p.partition, p.high]))
    expect(committedByPartition).toEqual(expected)
    expect(Object.values(committedByPartition).reduce((sum, o) => sum + Number(o), 0)).toBe(TOTAL)
  })
})
