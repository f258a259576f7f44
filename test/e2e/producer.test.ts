/**
 * The producer SDK (`turnvault/producer`) against the real broker: the e2e workload is sent
 * through it instead of kcat, and `turnvault start` consumes it. Every event kcat would deliver
 * and turnvault dead-letters at decoding, the SDK refuses at the call site with the same reason;
 * the rest lands on the partition kcat's murmur2 picks, in send order, and the stores equal
 * `process` of the whole file, as they do after kcat (test/e2e/kafka-e2e.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connectProducer, TurnEventRejected, type TurnvaultProducer } from "../../sdk/producer"
import type { TurnEvent } from "../../schemas"
import { kcatConsume, requireKcat } from "../support/kcat"
import type { TestDatabase } from "../support/postgres"
import {
  compareExports,
  databaseExport,
  partitionOf,
  prepareScenario,
  spawnTurnvault,
  type TurnvaultProcess
} from "../support/turnvaultProcess"

/** Reasons decoding gives: what a producer can know before sending. */
const DECODE_REASONS = new Set(["malformed_json", "schema_violation", "too_large"])

describe("producer SDK: sent through the broker, consumed like kcat's", () => {
  let db: TestDatabase | undefined
  let service: TurnvaultProcess | undefined
  let producer: TurnvaultProducer | undefined

  beforeAll(() => requireKcat())
  afterAll(async () => {
    await producer?.close()
    await service?.kill()
    await db?.drop()
  })

  it("refuses what the DLQ would get, places the rest like kcat and the stores equal `process`", async () => {
    const scenario = await prepareScenario({
      name: "producer",
      seed: 4_242,
      count: 1_500,
      extra: { TURNVAULT_PARTITIONS: "8" }
    })
    db = scenario.database
    const { workload, topics, brokers } = scenario
    service = await spawnTurnvault({ name: "producer", dir: scenario.dir, env: scenario.env })
    await service.waitHealthy()

    // a small bound, so that most sends wait for room: the order must hold through the wait
    producer = await connectProducer({
      brokers: brokers.split(","),
      topic: topics.turnEvents,
      maxPendingEvents: 16
    })
    const unparsable = new Set<number>()
    const rejected = new Map<number, string>()
    const sent: Array<{ line: number; key: string; value: string }> = []
    const sends: Array<Promise<void>> = []
    workload.lines.forEach((line, index) => {
      let event: TurnEvent
      try {
        event = JSON.parse(line.value) as TurnEvent
      } catch {
        unparsable.add(index + 1)
        return
      }
      const sending = producer!.send(event)
      sends.push(
        sending.then(
          () => {
            sent.push({ line: index + 1, key: line.key, value: JSON.stringify(event) })
          },
          (error: unknown) => {
            if (!(error instanceof TurnEventRejected)) throw error
            rejected.set(index + 1, error.reason)
          }
        )
      )
    })
    expect(producer.pending()).toBeGreaterThan(16)
    await Promise.all(sends)
    await producer.flush()
    expect(producer.pending()).toBe(0)

    const reference = await scenario.referencePromise
    // the DLQ's decode verdicts on lines that are JSON = the SDK's refusals, reason for reason
    const expectedRejections = new Map(
      reference.dlq
        .filter((d) => DECODE_REASONS.has(d.reason) && !unparsable.has(d.line))
        .map((d) => [d.line as number, d.reason as string])
    )
    expect(expectedRejections.size).toBeGreaterThan(5)
    expect(Object.fromEntries(rejected)).toEqual(Object.fromEntries(expectedRejections))

    await service.waitCommitted(sent.length, 150_000)
    const input = await kcatConsume(brokers, topics.turnEvents)
    expect(input).toHaveLength(sent.length)
    // murmur2 placement, the same check kcat's messages pass in kafka-e2e
    expect(input.filter((m) => m.partition !== partitionOf(m.key ?? "", 8))).toEqual([])
    // each key's events in the order they were sent (`sent` is in acknowledgement order, which
    // may interleave keys but keeps each partition's order)
    const byKey = (rows: ReadonlyArray<{ key: string | null; value: string | null }>) => {
      const out = new Map<string, Array<string>>()
      for (const row of rows) out.set(row.key ?? "", [...(out.get(row.key ?? "") ?? []), row.value ?? ""])
      return out
    }
    const inSendOrder = byKey([...sent].sort((a, b) => a.line - b.line))
    expect(byKey(input.map((m) => ({ key: m.key, value: m.payload })))).toEqual(inSendOrder)

    const stopped = await service.stop()
    expect(stopped, await service.logs()).toEqual({ code: 0, signal: null })
    const actual = await databaseExport(scenario.dir, scenario.database.url)
    expect(compareExports(reference, actual)).toBe("")
    // what the consumer still dead-letters is what only the stream can know: order within a session
    const dlq = await kcatConsume(brokers, topics.dlq)
    expect(dlq.map((m) => m.headers.reason).sort()).toEqual(
      reference.dlq
        .filter((d) => !DECODE_REASONS.has(d.reason))
        .map((d) => d.reason)
        .sort()
    )
  }, 240_000)
})
