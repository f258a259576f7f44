/**
 * kafkajs 2.2.4 (turnvault's client) and @platformatic/kafka (the maintained alternative) side by
 * side on the real broker, with the bench workload's turn events (keyed by session_id):
 * - produce: idempotent, acks=all, sends of `BENCH_CHUNK` messages one after the other (kafkajs's
 *   idempotent producer allows one request in flight; the same for both), messages/s and this
 *   process's CPU µs per message;
 * - consume ceiling: a new group reads the topic from the earliest offset to its end, no work per
 *   message but touching key and value, messages/s and CPU µs per message;
 * - placement: the share of keys each client's partitioner puts where Java's murmur2 does
 *   (`(murmur2(key) & 0x7fffffff) % partitions`, what kcat's murmur2_random and the Java client
 *   do); @platformatic/kafka's default and its `compatibilityPartitioner`.
 * Rounds alternate the clients (A B A B ...) so that machine noise falls on both.
 *
 *   npx tsx bench/kafka-clients.bench.ts
 *
 * Knobs: BENCH_EVENTS (100000), BENCH_ROUNDS (2), BENCH_CHUNK (2000), BENCH_PARTITIONS (8).
 * Not measured here: end-to-end turns/s through turnvault with @platformatic/kafka, which needs
 * its EventSource adapter (see the README's Performance section).
 */
import {
  Consumer,
  compatibilityPartitioner,
  Producer,
  stringDeserializers,
  stringSerializers
} from "@platformatic/kafka"
import { CompressionTypes, Partitioners } from "kafkajs"
import { partitionOf } from "../test/support/turnvaultProcess"
import { brokerList, kafkaFor } from "./lib/kafka"
import { cpuSince, knob, load, log, round, wallMs } from "./lib/measure"
import { makeWorkload } from "./lib/workload"

const events = knob("BENCH_EVENTS", 100_000)
const rounds = knob("BENCH_ROUNDS", 2)
const chunk = knob("BENCH_CHUNK", 2_000)
const partitions = knob("BENCH_PARTITIONS", 8)

type Line = { readonly key: string; readonly value: string }
interface Figures {
  readonly perSecond: number
  readonly cpuUsPerMessage: number
}

const measure = async (count: number, work: () => Promise<void>): Promise<Figures> => {
  const cpu = process.cpuUsage()
  const started = wallMs()
  await work()
  const seconds = (wallMs() - started) / 1000
  return {
    perSecond: Math.round(count / seconds),
    cpuUsPerMessage: round((cpuSince(cpu).total * 1e6) / count, 1)
  }
}

const createTopic = async (brokers: ReadonlyArray<string>, topic: string) => {
  const admin = kafkaFor(brokers, "bench-clients-admin").admin()
  await admin.connect()
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true })
  } finally {
    await admin.disconnect()
  }
}

const deleteTopic = async (brokers: ReadonlyArray<string>, topic: string) => {
  const admin = kafkaFor(brokers, "bench-clients-admin").admin()
  await admin.connect()
  try {
    await admin.deleteTopics({ topics: [topic], timeout: 30_000 })
  } finally {
    await admin.disconnect()
  }
}

const kafkajsProduce = async (brokers: ReadonlyArray<string>, topic: string, lines: ReadonlyArray<Line>) => {
  const producer = kafkaFor(brokers, "bench-kafkajs").producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false
  })
  await producer.connect()
  try {
    return await measure(lines.length, async () => {
      for (let i = 0; i < lines.length; i += chunk) {
        await producer.send({
          topic,
          acks: -1,
          compression: CompressionTypes.None,
          messages: lines.slice(i, i + chunk).map((l) => ({ key: l.key, value: l.value }))
        })
      }
    })
  } finally {
    await producer.disconnect()
  }
}

const platformaticProduce = async (
  brokers: ReadonlyArray<string>,
  topic: string,
  lines: ReadonlyArray<Line>
) => {
  const producer = new Producer({
    clientId: "bench-platformatic",
    bootstrapBrokers: [...brokers],
    serializers: stringSerializers,
    idempotent: true,
    acks: -1,
    partitioner: compatibilityPartitioner,
    autocreateTopics: false
  })
  try {
    return await measure(lines.length, async () => {
      for (let i = 0; i < lines.length; i += chunk) {
        await producer.send({
          messages: lines.slice(i, i + chunk).map((l) => ({ topic, key: l.key, value: l.value }))
        })
      }
    })
  } finally {
    await producer.close()
  }
}

const kafkajsConsume = async (
  brokers: ReadonlyArray<string>,
  topic: string,
  count: number,
  group: string
) => {
  const consumer = kafkaFor(brokers, "bench-kafkajs").consumer({ groupId: group, maxBytes: 16 * 1024 * 1024 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  let seen = 0
  let bytes = 0
  try {
    return await measure(count, async () => {
      await new Promise<void>((resolve, reject) => {
        consumer
          .run({
            autoCommit: true,
            eachBatch: async ({ batch }) => {
              for (const m of batch.messages)
                bytes += (m.key?.length ?? 0) + (m.value?.toString("utf8").length ?? 0)
              seen += batch.messages.length
              if (seen >= count) resolve()
            }
          })
          .catch(reject)
      })
    })
  } finally {
    await consumer.disconnect()
    log(`kafkajs consumed ${seen} messages (${bytes} characters)`)
  }
}

const platformaticConsume = async (
  brokers: ReadonlyArray<string>,
  topic: string,
  count: number,
  group: string
) => {
  const consumer = new Consumer({
    clientId: "bench-platformatic",
    groupId: group,
    bootstrapBrokers: [...brokers],
    deserializers: stringDeserializers,
    maxBytes: 16 * 1024 * 1024
  })
  let seen = 0
  let bytes = 0
  try {
    return await measure(count, async () => {
      const stream = await consumer.consume({ topics: [topic], mode: "earliest", autocommit: true })
      for await (const m of stream) {
        bytes += (m.key?.length ?? 0) + (m.value?.length ?? 0)
        seen += 1
        if (seen >= count) break
      }
      await stream.close()
    })
  } finally {
    await consumer.close(true)
    log(`@platformatic/kafka consumed ${seen} messages (${bytes} characters)`)
  }
}

/** The share of keys a partitioner places where Java's murmur2 does. */
const placement = (keys: ReadonlyArray<string>, count: number, partitionerOf: (key: string) => number) =>
  round(keys.filter((k) => partitionerOf(k) === partitionOf(k, count)).length / keys.length, 4)

const main = async () => {
  const brokers = await brokerList()
  const workload = makeWorkload(events)
  const lines: ReadonlyArray<Line> = workload.lines.map((l) => ({ key: l.key, value: l.value }))
  const keys = [...new Set(lines.map((l) => l.key))]
  const bytes = lines.reduce((sum, l) => sum + Buffer.byteLength(l.value), 0)
  log(
    `${lines.length} events (${Math.round(bytes / lines.length)} bytes each on average), ${keys.length} keys`
  )

  const results: Record<string, { produce: Array<Figures>; consume: Array<Figures> }> = {
    kafkajs: { produce: [], consume: [] },
    "@platformatic/kafka": { produce: [], consume: [] }
  }
  const stamp = Date.now()
  for (let round_ = 0; round_ < rounds; round_++) {
    for (const client of Object.keys(results)) {
      const topic = `bench-clients-${stamp}-${round_}-${client.replace(/\W/g, "")}`
      await createTopic(brokers, topic)
      try {
        const produced =
          client === "kafkajs"
            ? await kafkajsProduce(brokers, topic, lines)
            : await platformaticProduce(brokers, topic, lines)
        const group = `${topic}-group`
        const consumed =
          client === "kafkajs"
            ? await kafkajsConsume(brokers, topic, lines.length, group)
            : await platformaticConsume(brokers, topic, lines.length, group)
        results[client]!.produce.push(produced)
        results[client]!.consume.push(consumed)
        log(`round ${round_ + 1} ${client}: produce ${produced.perSecond}/s, consume ${consumed.perSecond}/s`)
      } finally {
        await deleteTopic(brokers, topic)
      }
    }
  }

  const best = (runs: ReadonlyArray<Figures>) => runs.reduce((a, b) => (b.perSecond > a.perSecond ? b : a))
  const table = Object.entries(results).map(([client, r]) => ({
    client,
    produce_per_s: best(r.produce).perSecond,
    produce_cpu_us_per_msg: best(r.produce).cpuUsPerMessage,
    consume_per_s: best(r.consume).perSecond,
    consume_cpu_us_per_msg: best(r.consume).cpuUsPerMessage,
    every_produce_per_s: r.produce.map((f) => f.perSecond).join(" "),
    every_consume_per_s: r.consume.map((f) => f.perSecond).join(" ")
  }))
  const kafkajsPartitioner = Partitioners.DefaultPartitioner()
  const { defaultPartitioner } = (await import("@platformatic/kafka")) as unknown as {
    defaultPartitioner: (message: unknown, key: Buffer) => number
  }
  // 8 partitions (a power of two) hide a sign difference that 12 show
  const placementShares = Object.fromEntries(
    [partitions, 12].map((count) => [
      `${count}_partitions`,
      {
        kafkajs_default: placement(keys, count, (key) =>
          kafkajsPartitioner({
            topic: "t",
            partitionMetadata: Array.from({ length: count }, (_, i) => ({
              partitionId: i,
              leader: 1,
              partitionErrorCode: 0,
              replicas: [1],
              isr: [1]
            })),
            message: { key, value: null }
          })
        ),
        platformatic_default: placement(
          keys,
          count,
          (key) => defaultPartitioner(undefined, Buffer.from(key)) % count
        ),
        platformatic_compatibility: placement(
          keys,
          count,
          (key) => compatibilityPartitioner(undefined as never, Buffer.from(key)) % count
        )
      }
    ])
  )
  const report = {
    parameters: { events: lines.length, rounds, chunk, partitions, keys: keys.length, load_at_end: load() },
    clients: table,
    placement_like_java_murmur2: placementShares
  }
  console.table(table)
  console.log(JSON.stringify(report, null, 2))
}

await main()
