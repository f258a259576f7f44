/**
 * A paced producer (its own process, so it does not share turnvault's event loop): sends the
 * workload's first `events` lines at `eventsPerSec`, every few ms whatever is due, and writes the
 * wall-clock send time of every line (index-aligned with the workload) to BENCH_OUT.
 */
import { CompressionTypes } from "kafkajs"
import { kafkaFor } from "../lib/kafka"
import { scenarioArgs, wallMs, writeResult } from "../lib/measure"
import { makeWorkload } from "../lib/workload"

const args = scenarioArgs({ brokers: [] as Array<string>, topic: "", events: 0, eventsPerSec: 1000 })
const { lines } = makeWorkload(args.events)
const producer = kafkaFor(args.brokers, "turnvault-bench-paced").producer({ allowAutoTopicCreation: false })
await producer.connect()
const sentAt = new Array<number>(lines.length)
const started = wallMs()
let sent = 0
while (sent < lines.length) {
  const due = Math.min(lines.length, Math.floor(((wallMs() - started) * args.eventsPerSec) / 1000) + 1)
  if (due <= sent) {
    await new Promise((resolve) => setTimeout(resolve, 1))
    continue
  }
  const t = wallMs()
  for (let i = sent; i < due; i++) sentAt[i] = t
  const batch = lines.slice(sent, due).map((l) => ({ key: l.key, value: l.value }))
  sent = due
  await producer.send({ topic: args.topic, acks: -1, compression: CompressionTypes.None, messages: batch })
}
const elapsed = wallMs() - started
await producer.disconnect()
writeResult({ sentAt, elapsedMs: elapsed, achievedEventsPerSec: (lines.length / elapsed) * 1000 })
