/**
 * End to end through a real broker, with an independent client on both sides: kcat produces a
 * realistic file of turn events (malformed lines, schema violations, duplicates, out-of-order
 * turns, invalid values), one `turnvault start` consumes it into PostgreSQL, and kcat reads the
 * DLQ and the output topics back. PostgreSQL's `export` must equal `process` on the same file.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { waitFor } from "../support/child"
import { ensureKafka } from "../support/kafka"
import { type KcatMessage, kcatConsume, kcatPartitions, kcatProduce, requireKcat } from "../support/kcat"
import { freshDatabase, queryRows, type TestDatabase } from "../support/postgres"
import {
  compareExports,
  databaseExport,
  diffRows,
  duplicateTurnRecords,
  kafkaEnv,
  makeWorkload,
  partitionOf,
  referenceExport,
  runTurnvault,
  type StoreExport,
  spawnTurnvault,
  type TurnvaultProcess,
  turnvault,
  uniqueName,
  workDir,
  writeWorkload
} from "../support/turnvaultProcess"
import { topicNames } from "../../streams/topics"
import type { TurnRecord } from "../../schemas"
import { exportedRecord } from "../../src/app/commands/exportStores"

/** A published record as the export writes it (DESIGN 9's shape). */
const projectRecord = (r: Record<string, any>) => exportedRecord(r as TurnRecord)

/** A record's phase decisions, or the same facts as its event gave them. */
const phaseDecisions = (source: Record<string, any> | undefined) => ({
  canonical_intent: source?.canonical_intent ?? null,
  matched_rules: source?.matched_rules,
  scenario: source?.scenario,
  tool_executions: source?.tool_executions,
  enforcement:
    source?.enforcement == null
      ? null
      : {
          blocked: source.enforcement.blocked,
          regeneration_attempts: source.enforcement.regeneration_attempts
        }
})

describe("kafka e2e: kcat in, turnvault, PostgreSQL and kcat out", () => {
  let db: TestDatabase | undefined
  let referenceDb: TestDatabase | undefined
  let service: TurnvaultProcess | undefined

  beforeAll(() => requireKcat())
  afterAll(async () => {
    await service?.kill()
    await db?.drop()
    await referenceDb?.drop()
  })

  it("processes every event once, dead-letters exactly the bad ones and equals `process`", async () => {
    const [brokers, database, dir, reference_] = await Promise.all([
      ensureKafka(),
      freshDatabase(),
      workDir("kafka-e2e"),
      freshDatabase()
    ])
    db = database
    referenceDb = reference_
    const workload = makeWorkload({ seed: 1_001, count: 4_000 })
    const files = await writeWorkload(dir, workload)
    const prefix = `${uniqueName("main")}.`
    const group = uniqueName("main-group")
    const topics = topicNames(prefix)
    const env = kafkaEnv({
      brokers,
      databaseUrl: database.url,
      prefix,
      group,
      extra: { TURNVAULT_PARTITIONS: "8" }
    })

    // the reference runs on a database of its own, so its whole records can be compared below
    const referencePromise = referenceExport(dir, files, {
      env: { DATABASE_URL: reference_.url },
      requirements: true
    })
    await turnvault(["definitions", "import", files.definitions], { DATABASE_URL: database.url })
    await turnvault(["requirements", "import", files.requirements], { DATABASE_URL: database.url })

    service = await spawnTurnvault({ name: "main", dir, env })
    await service.waitHealthy()
    await waitFor(
      "the input topic",
      async () => ((await kcatPartitions(brokers, topics.turnEvents)) === 8 ? true : undefined),
      {
        timeoutMs: 60_000,
        intervalMs: 500
      }
    )

    const started = Date.now()
    await kcatProduce(brokers, topics.turnEvents, workload.lines)
    const produced = Date.now()
    await service.waitCommitted(workload.lines.length, 150_000)
    const finished = Date.now()
    const seconds = (finished - started) / 1000
    console.log(
      `[kafka-e2e] ${workload.lines.length} lines: produced in ${(produced - started) / 1000} s, ` +
        `all committed after ${seconds} s = ${Math.round(workload.lines.length / seconds)} events/s ` +
        `through Kafka into PostgreSQL (logs: ${dir})`
    )

    const stopped = await service.stop()
    const logs = await service.logs(50_000_000)
    expect(stopped, await service.logs()).toEqual({ code: 0, signal: null })
    // the clients this run was asked for are the ones that ran (kafkajs by default,
    // @platformatic/kafka in the vitest project "platformatic")
    expect(logs.includes("input consumer: @platformatic/kafka")).toBe(
      process.env.TEST_KAFKA_CONSUMER === "platformatic"
    )
    expect(logs.includes("output producer: @platformatic/kafka")).toBe(
      process.env.TEST_KAFKA_PRODUCER === "platformatic"
    )

    const reference: StoreExport = await referencePromise
    const actual = await databaseExport(dir, database.url)
    expect(reference.records.length).toBeGreaterThan(2_000)
    expect(duplicateTurnRecords(actual.records)).toEqual([])
    expect(compareExports(reference, actual)).toBe("")

    // --- the DLQ, read back with kcat: exactly the reference's DLQ lines, with their headers
    const [input, dlq, memory, turnRecords] = await Promise.all([
      kcatConsume(brokers, topics.turnEvents),
      kcatConsume(brokers, topics.dlq),
      kcatConsume(brokers, topics.memoryIngestion),
      kcatConsume(brokers, topics.turnRecords)
    ])
    expect(input).toHaveLength(workload.lines.length)
    // kcat placed each key where the workload assumed (customers do not span partitions)
    expect(input.filter((m) => m.partition !== partitionOf(m.key ?? "", 8))).toEqual([])
    const reasons = (rows: ReadonlyArray<{ reason: string }>) =>
      rows.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.reason]: (acc[r.reason] ?? 0) + 1 }), {})
    const expectedDlq = reference.dlq.map((d) => ({
      reason: d.reason as string,
      key: workload.lines[d.line - 1]!.key,
      value: workload.lines[d.line - 1]!.value
    }))
    expect(reasons(expectedDlq)).toMatchObject({
      malformed_json: expect.any(Number),
      schema_violation: workload.injected.schemaViolations,
      out_of_order: workload.injected.outOfOrder
    })
    const actualDlq = dlq.map((m) => ({ reason: m.headers.reason ?? "", key: m.key, value: m.payload }))
    expect(diffRows(expectedDlq, actualDlq)).toEqual({ missing: [], extra: [], duplicates: [] })
    const byPosition = new Map<string, KcatMessage>(input.map((m) => [`${m.partition}/${m.offset}`, m]))
    for (const m of dlq) {
      expect(Object.keys(m.headers).sort()).toEqual(
        expect.arrayContaining(["detail", "reason", "source_offset", "source_partition", "source_topic"])
      )
      expect(m.headers.source_topic).toBe(topics.turnEvents)
      expect(m.headers.detail?.length ?? 0).toBeGreaterThan(0)
      const source = byPosition.get(`${m.headers.source_partition}/${m.headers.source_offset}`)
      expect(source?.payload).toBe(m.payload)
      expect(source?.key).toBe(m.key)
    }

    // --- memory-ingestion: one task per applied turn (turn_id header and body agree)
    const storedTurnIds = new Set(actual.records.map((r) => `${r.tenant_id}/${r.turn_id}`))
    const taskMissing = new Map<string, unknown>()
    const taskIds = memory.map((m) => {
      const task = JSON.parse(m.payload ?? "{}") as Record<string, any>
      expect(m.headers.turn_id).toBe(task.turn_id)
      expect(m.key).toBe(task.session_id)
      taskMissing.set(`${task.tenant_id}/${task.turn_id}`, task.missing_fields)
      return `${task.tenant_id}/${task.turn_id}`
    })
    expect(new Set(taskIds).size).toBe(storedTurnIds.size)
    expect([...new Set(taskIds)].filter((id) => !storedTurnIds.has(id))).toEqual([])
    // A clean run publishes each task once per delivery of its turn: once when applied, and
    // again for each redelivered duplicate (republished from the stored record, so that outputs
    // lost in a crash after the commit come back; consumers dedupe by turn_id). Nothing else.
    const dead = new Set(reference.dlq.map((d) => d.line as number))
    const deliveries = workload.lines.filter((line, i) => {
      if (dead.has(i + 1)) return false
      const event = JSON.parse(line.value) as Record<string, any>
      return event.event_type === "turn.completed" && storedTurnIds.has(`${event.tenant_id}/${event.turn_id}`)
    }).length
    expect(deliveries).toBeGreaterThan(storedTurnIds.size)
    expect(taskIds.length).toBe(deliveries)

    // --- turn-records topic equals the stored records (deduplicated by turn_id) and holds every
    // phase decision of its turn as the event reported it
    const events = new Map<string, Record<string, any>>()
    for (const line of workload.lines) {
      try {
        const event = JSON.parse(line.value) as Record<string, any>
        const id = `${event.tenant_id}/${event.turn_id}`
        if (event.event_type === "turn.completed" && !events.has(id)) events.set(id, event)
      } catch {}
    }
    const published = new Map<string, Record<string, any>>()
    let withScenario = 0
    let withFailedTool = 0
    for (const m of turnRecords) {
      const record = JSON.parse(m.payload ?? "{}") as Record<string, any>
      expect(m.headers.turn_id).toBe(record.turn_id)
      const id = `${record.tenant_id}/${record.turn_id}`
      published.set(id, projectRecord(record))
      const event = events.get(id)
      expect({ id, decisions: phaseDecisions(record) }).toStrictEqual({
        id,
        decisions: phaseDecisions(event)
      })
      expect(record.outcome.categories.every((c: Record<string, any>) => c.source === "PIPELINE")).toBe(true)
      if (record.scenario?.lifecycle_decisions !== undefined) withScenario++
      if (record.tool_executions.some((t: Record<string, any>) => !t.success)) withFailedTool++
    }
    expect(withScenario).toBeGreaterThan(0)
    expect(withFailedTool).toBeGreaterThan(0)

    // --- missing fields: the published records and memory tasks carry what `process` stored
    const missingOf = async (url: string) => {
      const rows = await queryRows<{ id: string; missing: unknown }>(
        url,
        "SELECT tenant_id || '/' || turn_id AS id, record -> 'missing_fields' AS missing FROM turn_records"
      )
      return new Map(rows.map((r) => [r.id, r.missing]))
    }
    const expectedMissing = await missingOf(reference_.url)
    expect(expectedMissing.size).toBe(published.size)
    const publishedMissing = new Map(
      turnRecords.map((m) => {
        const record = JSON.parse(m.payload ?? "{}") as Record<string, any>
        return [`${record.tenant_id}/${record.turn_id}`, record.missing_fields] as const
      })
    )
    expect(Object.fromEntries(publishedMissing)).toEqual(Object.fromEntries(expectedMissing))
    expect(Object.fromEntries(taskMissing)).toEqual(Object.fromEntries(expectedMissing))
    const nonEmpty = [...expectedMissing.values()].filter((m) => Array.isArray(m) && m.length > 0)
    expect(nonEmpty.length).toBeGreaterThan(50)
    expect(turnRecords.length).toBe(deliveries)
    expect(diffRows(actual.records, [...published.values()])).toEqual({
      missing: [],
      extra: [],
      duplicates: []
    })

    const verify = await runTurnvault(["verify"], { DATABASE_URL: database.url })
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
  }, 240_000)
})
