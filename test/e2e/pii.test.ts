/**
 * Values of fields flagged `is_pii` never leave the stores through observability (issue:
 * Observability 3): `turnvault start` consumes a real Kafka broker with PostgreSQL stores and
 * debug logging; kcat produces turns carrying a distinctive PII value — valid, invalid (strict
 * rejection), invalid in warn mode — and broken events carrying it (schema violations, malformed
 * JSON, an out-of-order turn). The value must appear nowhere in the captured stdout/stderr, the
 * telemetry topic, the turn-records topic, the /metrics exposition, or the DLQ's reason and detail —
 * not even in part: the checks look for the value's distinctive prefix, which every form of it
 * (trimmed, lower-cased, cut short in a parser's excerpt) still carries.
 * Positive controls show the value did go through: it is in the profile store and in the DLQ
 * payloads (the original events, kept for replay).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import pg from "pg"
import { freePort, stopChild, waitFor } from "../support/child"
import { def, ended, turn } from "../support/events"
import { ensureKafka } from "../support/kafka"
import { type KcatMessage, kcatConsume, kcatProduce, requireKcat } from "../support/kcat"
import { freshDatabase, type TestDatabase } from "../support/postgres"

const repoRoot = resolve(import.meta.dirname, "..", "..")
const marker = "zqpii"
const secret = `${marker}${randomBytes(5).toString("hex")}`
const prefix = `pii-${randomBytes(4).toString("hex")}.`
const topics = {
  events: `${prefix}turn-events`,
  dlq: `${prefix}turn-events.dlq`,
  records: `${prefix}turn-records`,
  telemetry: `${prefix}telemetry`
}

const definitions = [
  def("full_name", "string", "IDENTITY", { is_pii: true, validation: { min_length: 2 } }),
  def("email", "email", "IDENTITY", { is_pii: true }),
  def("pin", "string", "BUSINESS", { is_pii: true, validation: { regex: "[0-9]{4}" } }),
  def("nickname", "string", "BUSINESS", {
    is_pii: true,
    validation_mode: "warn",
    validation: { max_length: 5 }
  }),
  def("plan", "enum", "BUSINESS", { validation: { allowed_values: ["basic", "pro"] } })
]

const session = "s-pii"
const events: ReadonlyArray<string> = [
  JSON.stringify(
    turn({ session, turn: 1, vars: { full_name: `${secret} Valid`, email: `${secret}@example.com` } })
  ),
  // strict mode rejects these: validation errors in the turn record, nothing stored
  JSON.stringify(turn({ session, turn: 2, vars: { email: `${secret}@@bad`, pin: secret, plan: "pro" } })),
  // warn mode applies the raw value and records the error
  JSON.stringify(turn({ session, turn: 3, vars: { nickname: secret } })),
  // schema violations whose offending value is the PII value
  JSON.stringify({
    ...turn({ session, turn: 4 }),
    candidate_variables: { full_name: { value: secret, confidence: secret } }
  }),
  JSON.stringify({
    ...turn({ session, turn: 4 }),
    candidate_variables: { email: { value: `${secret}@example.com`, source: secret } }
  }),
  JSON.stringify({ ...turn({ session, turn: 4 }), turn_number: secret }),
  // malformed JSON around the value
  `{"event_type":"turn.completed","session_id":"${session}","candidate_variables":{"full_name":{"value":${secret}}}}`,
  // a late turn with a new id: out of order
  JSON.stringify(turn({ session, turn: 1, turnId: "late-pii", vars: { full_name: `${secret} Late` } })),
  JSON.stringify(ended({ session }))
]

describe("PII values stay out of logs, telemetry, metrics and DLQ details", () => {
  let db: TestDatabase | undefined
  let child: ChildProcess | undefined
  let workDir = ""
  const output: Array<string> = []
  let exposition = ""
  let dlq: Array<KcatMessage> = []
  let telemetry: Array<KcatMessage> = []
  let records: Array<KcatMessage> = []
  let stored: ReadonlyArray<{ name: string; value: unknown }> = []

  beforeAll(async () => {
    requireKcat()
    const broker = await ensureKafka()
    db = await freshDatabase()
    workDir = await mkdtemp(join(tmpdir(), "turnvault-pii-"))
    const defsPath = join(workDir, "defs.json")
    await writeFile(defsPath, JSON.stringify(definitions))

    const env: NodeJS.ProcessEnv = { ...process.env }
    delete env.REDIS_URL
    Object.assign(env, {
      KAFKA_BROKERS: broker,
      DATABASE_URL: db.url,
      TURNVAULT_TOPIC_PREFIX: prefix,
      TURNVAULT_CONSUMER_GROUP: `${prefix}group`,
      TURNVAULT_PARTITIONS: "2",
      TURNVAULT_LOG_LEVEL: "debug",
      TURNVAULT_KAFKA_SESSION_TIMEOUT_MS: "10000"
    })
    const imported = spawnSync(process.execPath, ["bin/turnvault.mjs", "definitions", "import", defsPath], {
      cwd: repoRoot,
      env,
      encoding: "utf8",
      timeout: 60_000
    })
    output.push(imported.stdout ?? "", imported.stderr ?? "")
    if (imported.status !== 0) throw new Error(`definitions import failed: ${imported.stderr}`)

    const port = await freePort()
    child = spawn(process.execPath, ["bin/turnvault.mjs", "start"], {
      cwd: repoRoot,
      env: { ...env, TURNVAULT_HTTP_PORT: String(port) },
      stdio: ["ignore", "pipe", "pipe"]
    })
    child.stdout?.on("data", (c: Buffer) => output.push(c.toString("utf8")))
    child.stderr?.on("data", (c: Buffer) => output.push(c.toString("utf8")))
    const base = `http://127.0.0.1:${port}`
    await waitFor(
      "turnvault to be ready",
      async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined),
      { timeoutMs: 90_000, intervalMs: 500 }
    )

    await kcatProduce(
      broker,
      topics.events,
      events.map((value) => ({ key: session, value }))
    )
    await waitFor(
      "3 turn records and 5 DLQ messages",
      async () => {
        records = await kcatConsume(broker, topics.records)
        dlq = await kcatConsume(broker, topics.dlq)
        return records.length >= 3 && dlq.length >= 5 ? true : undefined
      },
      { timeoutMs: 60_000, intervalMs: 500 }
    )
    await waitFor(
      "telemetry of the 3 turns",
      async () => {
        telemetry = await kcatConsume(broker, topics.telemetry)
        return telemetry.length >= 3 ? true : undefined
      },
      { timeoutMs: 30_000, intervalMs: 500 }
    )
    exposition = await (await fetch(`${base}/metrics`)).text()
    await stopChild(child, { graceMs: 20_000 })

    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    stored = (await client.query("SELECT name, value FROM profile_fields ORDER BY name")).rows
    await client.end()
  }, 300_000)

  afterAll(async () => {
    await stopChild(child, { graceMs: 20_000 })
    await db?.drop()
    if (workDir !== "") await rm(workDir, { recursive: true, force: true })
  })

  it("went through the pipeline (positive controls)", () => {
    expect(stored).toContainEqual({ name: "full_name", value: `${secret} Valid` })
    expect(stored).toContainEqual({ name: "nickname", value: secret })
    expect(records.map((r) => JSON.parse(r.payload ?? "{}").turn_number)).toEqual([1, 2, 3])
    const updates = records.flatMap((r) => JSON.parse(r.payload ?? "{}").customer_data_updates)
    expect(updates.filter((u) => u.validation_error !== undefined).map((u) => u.field_name)).toEqual(
      expect.arrayContaining(["email", "pin", "nickname"])
    )
    expect(dlq.map((m) => m.headers.reason).sort()).toEqual([
      "malformed_json",
      "out_of_order",
      "schema_violation",
      "schema_violation",
      "schema_violation"
    ])
    // The DLQ keeps the original event for replay: the value is in the payload, on purpose.
    expect(dlq.every((m) => (m.payload ?? "").includes(secret))).toBe(true)
    // Turn-related log lines were captured, with their ids.
    const logs = output.join("")
    expect(logs).toContain('"turn_id":"t1-s-pii-2"')
    expect(logs).toContain("event dead-lettered")
  })

  it("appears in no log line, telemetry entry, turn record or metric", () => {
    const logs = output.join("")
    expect(logs.length).toBeGreaterThan(0)
    const leakingLines = logs.split("\n").filter((line) => line.includes(marker))
    expect(leakingLines).toEqual([])
    for (const m of [...telemetry, ...records]) {
      expect(m.payload ?? "").not.toContain(marker)
      expect(JSON.stringify(m.headers)).not.toContain(marker)
    }
    expect(exposition).not.toContain(marker)
  })

  it("appears in no DLQ reason or detail", () => {
    const leaking = dlq
      .filter((m) => JSON.stringify(m.headers).includes(marker))
      .map((m) => `${m.headers.reason}: ${m.headers.detail}`)
    expect(leaking).toEqual([])
  })
})
