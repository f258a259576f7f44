/**
 * Component ceiling: the raw kafkajs consume rate of the same topic with no processing, the
 * consumer configured as turnvault's (KafkaSource: 1 MiB per partition, 250 ms max wait,
 * 8 partitions at once, eachBatch), a fresh group from the earliest offset.
 */
import { topicNames } from "../../streams/topics"
import { kafkaFor } from "../lib/kafka"
import { cpuSince, load, peakRssMb, round, scenarioArgs, wallMs, writeResult } from "../lib/measure"

const args = scenarioArgs({ brokers: [] as Array<string>, prefix: "", group: "", events: 0 })
const topic = topicNames(args.prefix).turnEvents
const consumer = kafkaFor(args.brokers, "turnvault-bench-ceiling").consumer({
  groupId: args.group,
  maxBytesPerPartition: 1024 * 1024,
  maxWaitTimeInMs: 250
})
let joinedAt = 0
consumer.on(consumer.events.GROUP_JOIN, () => {
  joinedAt ||= wallMs()
})
await consumer.connect()
await consumer.subscribe({ topics: [topic], fromBeginning: true })
let count = 0
let bytes = 0
let firstAt = 0
let lastAt = 0
const cpu0 = process.cpuUsage()
await new Promise<void>((resolve) => {
  void consumer.run({
    partitionsConsumedConcurrently: 8,
    eachBatch: async ({ batch }) => {
      firstAt ||= wallMs()
      for (const m of batch.messages) bytes += m.value?.length ?? 0
      count += batch.messages.length
      lastAt = wallMs()
      if (count >= args.events) resolve()
    }
  })
})
const cpu = cpuSince(cpu0)
await consumer.disconnect().catch(() => {})
const seconds = (lastAt - joinedAt) / 1000
writeResult({
  messages: count,
  seconds: round(seconds),
  messagesPerSec: round(count / seconds, 0),
  steadyMessagesPerSec: round(count / ((lastAt - firstAt) / 1000), 0),
  mbPerSec: round(bytes / 1e6 / seconds, 1),
  cpuSeconds: cpu,
  peakRssMb: peakRssMb(),
  load: load()
})
process.exit(0)
