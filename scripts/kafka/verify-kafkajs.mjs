// Compatibility check: does kafkajs (the version installed in this repo) work
// against the broker at argv[2] / KAFKA_BROKERS / 127.0.0.1:9092?
//
//   node scripts/kafka/verify-kafkajs.mjs 127.0.0.1:9092
//
// Exercises what turnvault relies on: admin createTopics/fetchTopicMetadata,
// idempotent producer, transactional producer (read_committed consumer),
// transactional sendOffsets (EOS), consumer group join + commit,
// listGroups/describeGroups, fetchOffsets, topic offsets, configs,
// deleteTopics. Prints one PASS/FAIL line per step; exits 1 on any failure.
// Used to choose the version pinned in scripts/kafka/VERSION (see README.md).
import { randomUUID } from "node:crypto"
import { createRequire } from "node:module"
import path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(path.join(here, "..", "..", "package.json"))
const { Kafka, logLevel } = require("kafkajs")
const kafkajsVersion = require("kafkajs/package.json").version

const broker = process.argv[2] ?? process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"
const kafka = new Kafka({
  clientId: "turnvault-verify",
  brokers: broker.split(","),
  logLevel: process.env.KAFKAJS_LOG ? logLevel.DEBUG : logLevel.ERROR
})
const id = randomUUID().slice(0, 8)
const topic = `verify-${id}`
const txTopic = `verify-tx-${id}`
const groupId = `verify-group-${id}`
let failures = 0

async function step(name, fn) {
  const t0 = Date.now()
  try {
    const detail = await fn()
    console.log(`PASS ${name} (${Date.now() - t0} ms)${detail ? ` - ${detail}` : ""}`)
  } catch (err) {
    failures++
    console.log(`FAIL ${name}: ${err?.name ?? "Error"}: ${err?.message ?? err}`)
    if (err?.type) console.log(`     kafka error type: ${err.type} code: ${err.code}`)
  }
}

function consumeN(consumer, n, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const got = []
    const timer = setTimeout(
      () => reject(new Error(`timed out after ${got.length}/${n} messages`)),
      timeoutMs
    )
    consumer
      .run({
        eachMessage: async ({ partition, message }) => {
          got.push({ partition, key: message.key?.toString(), value: message.value?.toString() })
          if (got.length === n) {
            clearTimeout(timer)
            resolve(got)
          }
        }
      })
      .catch(reject)
  })
}

const admin = kafka.admin()
console.log(`kafkajs ${kafkajsVersion} -> ${broker}`)
await step("admin.connect + describeCluster", async () => {
  await admin.connect()
  const c = await admin.describeCluster()
  return `brokers=${c.brokers.map((b) => `${b.nodeId}@${b.host}:${b.port}`).join(",")} controller=${c.controller}`
})
await step("admin.createTopics (3 partitions)", async () => {
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic, numPartitions: 3, replicationFactor: 1 },
      { topic: txTopic, numPartitions: 1, replicationFactor: 1 }
    ]
  })
  if (!created) throw new Error("createTopics returned false")
  const md = await admin.fetchTopicMetadata({ topics: [topic] })
  return `partitions=${md.topics[0].partitions.length}`
})
await step("idempotent producer send (30 keyed msgs)", async () => {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const messages = Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 5}`, value: `v${i}` }))
  const res = await producer.send({ topic, acks: -1, messages })
  await producer.disconnect()
  return `acks from ${res.length} partitions`
})
await step("transactional producer commit", async () => {
  const producer = kafka.producer({
    transactionalId: `verify-tx-${id}`,
    idempotent: true,
    maxInFlightRequests: 1
  })
  await producer.connect()
  const tx = await producer.transaction()
  await tx.send({ topic: txTopic, messages: [{ key: "a", value: "committed" }] })
  await tx.commit()
  const tx2 = await producer.transaction()
  await tx2.send({ topic: txTopic, messages: [{ key: "a", value: "aborted" }] })
  await tx2.abort()
  await producer.disconnect()
})
await step("read_committed consumer sees only committed tx msg", async () => {
  const consumer = kafka.consumer({ groupId: `${groupId}-tx`, readUncommitted: false })
  await consumer.connect()
  await consumer.subscribe({ topics: [txTopic], fromBeginning: true })
  const got = await consumeN(consumer, 1)
  await new Promise((r) => setTimeout(r, 1000))
  await consumer.disconnect()
  if (got[0].value !== "committed") throw new Error(`got ${got[0].value}`)
})
await step("consumer group join + consume 30 + commitOffsets", async () => {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const got = await consumeN(consumer, 30)
  // autoCommit commits on the next interval; force it explicitly too.
  const byPartition = new Map()
  for (const m of got) byPartition.set(m.partition, (byPartition.get(m.partition) ?? 0) + 1)
  await consumer.commitOffsets(
    [...byPartition].map(([partition, count]) => ({ topic, partition, offset: String(count) }))
  )
  // Leave the group open while describing it.
  globalThis.__consumer = consumer
  return `per-partition counts ${JSON.stringify(Object.fromEntries(byPartition))}`
})
await step("admin.listGroups + describeGroups", async () => {
  const { groups } = await admin.listGroups()
  if (!groups.some((g) => g.groupId === groupId)) throw new Error(`group ${groupId} not listed`)
  const d = await admin.describeGroups([groupId])
  const g = d.groups[0]
  if (g.state !== "Stable") throw new Error(`group state ${g.state}`)
  return `state=${g.state} protocolType=${g.protocolType} members=${g.members.length}`
})
await step("admin.fetchOffsets", async () => {
  await globalThis.__consumer?.disconnect()
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
  const total = offsets[0].partitions.reduce((s, p) => s + Number(p.offset), 0)
  if (total !== 30) throw new Error(`committed total ${total}, want 30: ${JSON.stringify(offsets)}`)
  return JSON.stringify(offsets[0].partitions)
})
await step("transactional sendOffsets (consume-transform-produce, EOS)", async () => {
  const producer = kafka.producer({
    transactionalId: `verify-eos-${id}`,
    idempotent: true,
    maxInFlightRequests: 1
  })
  await producer.connect()
  const tx = await producer.transaction()
  try {
    await tx.send({ topic: txTopic, messages: [{ key: "eos", value: "out" }] })
    await tx.sendOffsets({
      consumerGroupId: `${groupId}-eos`,
      topics: [{ topic, partitions: [{ partition: 0, offset: "1" }] }]
    })
    await tx.commit()
  } catch (err) {
    await tx.abort().catch(() => {})
    throw err
  } finally {
    await producer.disconnect()
  }
  const offsets = await admin.fetchOffsets({ groupId: `${groupId}-eos`, topics: [topic] })
  const p0 = offsets[0].partitions.find((p) => p.partition === 0)?.offset
  if (p0 !== "1") throw new Error(`committed offset for partition 0 is ${p0}, want 1`)
  return `partition 0 committed at ${p0}`
})
await step("admin.fetchTopicOffsets + fetchTopicOffsetsByTimestamp", async () => {
  const latest = await admin.fetchTopicOffsets(topic)
  const byTs = await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() - 60_000)
  const hw = latest.reduce((s, p) => s + Number(p.high), 0)
  if (hw !== 30) throw new Error(`high watermarks sum ${hw}, want 30`)
  return `high=${latest.map((p) => p.high).join(",")} byTs=${byTs.map((p) => p.offset).join(",")}`
})
await step("admin.describeConfigs + alterConfigs", async () => {
  const { ConfigResourceTypes } = require("kafkajs")
  await admin.alterConfigs({
    validateOnly: false,
    resources: [
      {
        type: ConfigResourceTypes.TOPIC,
        name: topic,
        configEntries: [{ name: "retention.ms", value: "3600000" }]
      }
    ]
  })
  const d = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ["retention.ms"] }]
  })
  const v = d.resources[0].configEntries.find((e) => e.configName === "retention.ms")?.configValue
  if (v !== "3600000") throw new Error(`retention.ms=${v}`)
  return `retention.ms=${v}`
})
await step("admin.createPartitions + setOffsets/resetOffsets", async () => {
  await admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] })
  await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: "1" }] })
  await admin.resetOffsets({ groupId, topic, earliest: true })
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
  return JSON.stringify(offsets[0].partitions.map((p) => p.offset))
})
await step("produce to a missing topic is rejected (auto.create.topics.enable=false)", async () => {
  const producer = kafka.producer({ allowAutoTopicCreation: true, retry: { retries: 1 } })
  await producer.connect()
  try {
    await producer.send({ topic: `verify-missing-${id}`, messages: [{ value: "x" }], timeout: 3000 })
    throw new Error("send to a missing topic succeeded: auto-creation is on")
  } catch (err) {
    if (String(err.message).includes("auto-creation is on")) throw err
    return `rejected: ${err.name}: ${err.message}`
  } finally {
    await producer.disconnect()
  }
})
await step("admin.deleteGroups + deleteTopics", async () => {
  await admin.deleteGroups([groupId, `${groupId}-tx`, `${groupId}-eos`])
  await admin.deleteTopics({ topics: [topic, txTopic] })
})
await admin.disconnect().catch(() => {})
console.log(
  failures === 0 ? "kafkajs compatibility: ALL PASSED" : `kafkajs compatibility: ${failures} FAILED`
)
process.exit(failures === 0 ? 0 : 1)
