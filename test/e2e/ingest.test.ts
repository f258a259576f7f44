/**
 * `turnvault ingest` end to end: a real broker and PostgreSQL, `turnvault start` as the turn
 * pipeline, and a local fake OpenAI-compatible server of this test's own whose answer to each turn
 * is scripted by a marker in the customer's message: a plain answer, a 429, a 500, a timeout, each
 * once; an answer with an unknown field and a wrong type; invalid JSON every time; a 500 every
 * time. Every turn's task is processed exactly once in effect (its result recorded once, even when
 * the tasks are delivered again), failures retry and then dead-letter with the reason, the kept
 * values land in the vault as inferences with lineage (`items chain` leads to the turn), a doubtful
 * one waits for review, and each session has a rolling summary. The pipeline and the worker run
 * with TURNVAULT_KEK: the turns' texts travel sealed on the topic (none of them in the clear), the
 * worker opens them, and once a customer is erased its tasks no longer open.
 */
import { writeFile } from "node:fs/promises"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Kafka, logLevel } from "kafkajs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { isSealed } from "../../src/domain/envelope"
import { topicNames } from "../../streams/topics"
import { freePort, waitFor } from "../support/child"
import { def, turn } from "../support/events"
import { ensureKafka } from "../support/kafka"
import { freshDatabase, queryRows, type TestDatabase } from "../support/postgres"
import {
  kafkaEnv,
  metricValue,
  spawnTurnvault,
  type TurnvaultProcess,
  turnvault,
  uniqueName,
  workDir
} from "../support/turnvaultProcess"

/** What the fake answers to an extraction of the turn whose message carries `#<marker>`. */
const extractions: Record<string, { fields: Array<{ name: string; value: unknown; confidence: number }> }> = {
  plain: {
    fields: [
      { name: "email", value: "jane@example.com", confidence: 0.95 },
      { name: "plan", value: "premium", confidence: 0.6 },
      { name: "favourite_colour", value: "blue", confidence: 0.9 }
    ]
  },
  "rate-limited": { fields: [{ name: "company", value: "Acme Ltd", confidence: 0.9 }] },
  "server-error": { fields: [{ name: "seats", value: 12, confidence: 0.9 }] },
  timeout: { fields: [{ name: "city", value: "Lyon", confidence: 0.85 }] },
  "wrong-type": {
    fields: [
      { name: "seats", value: "a dozen", confidence: 0.9 },
      { name: "order_number", value: "ORD-77", confidence: 0.9 }
    ]
  }
}

const TURNS = [
  { session: "s1", customer: "c1", turn: 1, marker: "plain" },
  { session: "s1", customer: "c1", turn: 2, marker: "rate-limited" },
  { session: "s2", customer: "c2", turn: 1, marker: "server-error" },
  { session: "s2", customer: "c2", turn: 2, marker: "timeout" },
  { session: "s3", customer: "c3", turn: 1, marker: "wrong-type" },
  { session: "s3", customer: "c3", turn: 2, marker: "invalid-json" },
  { session: "s4", customer: "c4", turn: 1, marker: "always-500" }
] as const
const EXTRACTED = TURNS.filter((t) => t.marker in extractions)

let server: Server
let baseUrl: string
/** Requests per marker and kind (extract or summarise). */
const seen = new Map<string, number>()
let db: TestDatabase | undefined
let pipeline: TurnvaultProcess | undefined
let worker: TurnvaultProcess | undefined

const completion = (content: string) => ({
  id: "chatcmpl-1",
  object: "chat.completion",
  model: "fake-model-2026-01",
  choices: [{ index: 0, message: { role: "assistant", content } }],
  usage: { prompt_tokens: 250, completion_tokens: 40 }
})

beforeAll(async () => {
  server = createServer((request, response) => {
    let text = ""
    request.on("data", (chunk) => {
      text += chunk
    })
    request.on("end", () => {
      const body = JSON.parse(text)
      const kind = body.response_format === undefined ? "summarise" : "extract"
      const user: string = body.messages[1].content
      const marker = /#([a-z0-9-]+)/.exec(user)?.[1] ?? "none"
      const count = (seen.get(`${kind}:${marker}`) ?? 0) + 1
      seen.set(`${kind}:${marker}`, count)
      const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        response.writeHead(status, { "content-type": "application/json", ...headers })
        response.end(JSON.stringify(payload))
      }
      if (kind === "summarise") return reply(200, completion(`The customer wrote about ${marker}.`))
      if (marker === "rate-limited" && count === 1)
        return reply(429, { error: "slow down" }, { "retry-after": "0" })
      if (marker === "server-error" && count === 1) return reply(500, { error: "boom" })
      if (marker === "always-500") return reply(500, { error: "boom" })
      if (marker === "timeout" && count === 1) return // never answers: the worker's deadline fires
      if (marker === "invalid-json") return reply(200, completion("Sure! The email is jane@example.com"))
      return reply(200, completion(JSON.stringify(extractions[marker] ?? { fields: [] })))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await worker?.kill()
  await pipeline?.kill()
  server?.closeAllConnections()
  await new Promise((resolve) => server?.close(resolve))
  await db?.drop()
})

describe("turnvault ingest", () => {
  it("extracts each turn once, retries then dead-letters, and lands the values in the vault with lineage", async () => {
    const [brokers, database, dir] = await Promise.all([ensureKafka(), freshDatabase(), workDir("ingest")])
    db = database
    const prefix = `${uniqueName("ingest")}.`
    const topics = topicNames(prefix)
    const env = kafkaEnv({
      brokers,
      databaseUrl: database.url,
      prefix,
      group: uniqueName("ingest-pipeline"),
      extra: {
        TURNVAULT_PARTITIONS: "2",
        TURNVAULT_KEK: Buffer.alloc(32, 9).toString("base64"),
        // an erasure reaches the worker's key cache within this
        TURNVAULT_KEY_CACHE_TTL_MS: "200"
      }
    })
    const defs = [
      def("email", "email", "IDENTITY", { is_pii: true, description: "the customer's email" }),
      def("plan", "enum", "BUSINESS", { validation: { allowed_values: ["basic", "pro", "premium"] } }),
      def("company", "string", "BUSINESS"),
      def("seats", "integer", "BUSINESS"),
      def("city", "string", "IDENTITY"),
      def("order_number", "string", "CASE", { collection_prompt: "What is your order number?" }),
      def("mood", "string", "SESSION")
    ]
    const defsPath = `${dir}/defs.json`
    await writeFile(defsPath, JSON.stringify(defs))
    await turnvault(["definitions", "import", defsPath], { DATABASE_URL: database.url })

    pipeline = await spawnTurnvault({ name: "pipeline", dir, env })
    await pipeline.waitHealthy()
    const ingestPort = await freePort()
    worker = await spawnTurnvault({
      name: "ingest",
      dir,
      args: ["ingest"],
      port: ingestPort,
      env: {
        ...env,
        TURNVAULT_INGEST_HTTP_PORT: String(ingestPort),
        TURNVAULT_INGEST_GROUP: uniqueName("ingest-worker"),
        TURNVAULT_LLM_BASE_URL: baseUrl,
        TURNVAULT_LLM_MODEL: "fake-model",
        TURNVAULT_LLM_API_KEY: "sk-test",
        TURNVAULT_LLM_TIMEOUT_MS: "1000",
        TURNVAULT_INGEST_ATTEMPTS: "3",
        TURNVAULT_INGEST_RETRY_BASE_MS: "50"
      }
    })
    await worker.waitHealthy()

    const kafka = new Kafka({
      clientId: "ingest-test",
      brokers: brokers.split(","),
      logLevel: logLevel.NOTHING
    })
    const producer = kafka.producer()
    await producer.connect()
    const events = TURNS.map((t) =>
      turn({
        session: t.session,
        customer: t.customer,
        turn: t.turn,
        turnId: `${t.session}-${t.turn}`,
        at: new Date(Date.UTC(2026, 0, 1, 10, t.turn)).toISOString(),
        ...(t.marker === "wrong-type" ? { caseId: "case-9" } : {}),
        extra: { user_message: `about #${t.marker}`, agent_response: "noted" }
      })
    )
    await producer.send({
      topic: topics.turnEvents,
      messages: events.map((e) => ({ key: e.session_id, value: JSON.stringify(e) }))
    })

    const results = () =>
      queryRows<{
        turn_id: string
        model: string
        template: string
        extracted: number
        needs_review: number
        dropped: unknown
      }>(
        database.url,
        "SELECT turn_id, model, template, extracted, needs_review, dropped FROM ingestion_results ORDER BY turn_id"
      )
    const dlq = async () => {
      const consumer = kafka.consumer({ groupId: uniqueName("dlq-reader") })
      const letters: Array<any> = []
      await consumer.connect()
      await consumer.subscribe({ topic: topics.memoryIngestionDlq, fromBeginning: true })
      await consumer.run({
        eachMessage: async ({ message }) => void letters.push(JSON.parse(message.value!.toString()))
      })
      await waitFor("the ingestion DLQ", () => (letters.length >= 2 ? true : undefined), {
        timeoutMs: 60_000,
        intervalMs: 200
      })
      await new Promise((r) => setTimeout(r, 500))
      await consumer.disconnect()
      return letters
    }
    await waitFor(
      "every extractable turn's result",
      async () => ((await results()).length >= EXTRACTED.length ? true : undefined),
      {
        timeoutMs: 90_000,
        intervalMs: 250
      }
    ).catch(async (e) => {
      throw new Error(`${e.message}\n${await worker!.logs()}\n${await pipeline!.logs()}`)
    })

    // the results: once per turn, the model and template recorded, what was dropped and why
    const recorded = await results()
    expect(recorded.map((r) => r.turn_id)).toEqual(EXTRACTED.map((t) => `${t.session}-${t.turn}`).sort())
    expect(new Set(recorded.map((r) => `${r.model} ${r.template}`))).toEqual(
      new Set(["fake-model-2026-01 entity-extraction@1"])
    )
    const plain = recorded.find((r) => r.turn_id === "s1-1")!
    expect(plain).toMatchObject({
      extracted: 2,
      needs_review: 1,
      dropped: [{ name: "favourite_colour", reason: "unknown_field" }]
    })
    expect(recorded.find((r) => r.turn_id === "s3-1")).toMatchObject({
      extracted: 1,
      dropped: [{ name: "seats", reason: "invalid_value" }]
    })

    // the failures: tried again, then dead-lettered with the reason
    const letters = await dlq()
    expect(letters.map((l) => [l.task.turn_id, l.reason, l.attempts]).sort()).toEqual([
      ["s3-2", "invalid_answer", 3],
      ["s4-1", "provider_failed", 3]
    ])
    expect(seen.get("extract:rate-limited")).toBe(2)
    expect(seen.get("extract:server-error")).toBe(2)
    expect(seen.get("extract:timeout")).toBe(2)
    expect(seen.get("extract:always-500")).toBe(3)

    // the values reach the vault through the pipeline, as inferences with lineage
    type Row = {
      name: string
      value: unknown
      status: string
      source: string
      source_item_type: string
      source_item_id: string
      source_metadata: any
      customer_id: string
      id: string
      case_id: string | null
    }
    const inferredRows = () =>
      queryRows<Row>(
        database.url,
        "SELECT id, customer_id, name, value, status, source, source_item_type, source_item_id, source_metadata, case_id FROM profile_fields WHERE source_item_type = 'inference' ORDER BY customer_id, name"
      )
    await waitFor("the inferred rows", async () => ((await inferredRows()).length >= 6 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 250
    })
    const rows = await inferredRows()
    // email is PII: sealed in the table (TURNVAULT_KEK)
    const sealedOrValue = (value: unknown) => (isSealed(value) ? "<sealed>" : value)
    expect(rows.map((r) => [r.customer_id, r.name, sealedOrValue(r.value), r.status])).toEqual([
      ["c1", "company", "Acme Ltd", "active"],
      ["c1", "email", "<sealed>", "active"],
      ["c1", "plan", "premium", "pending_review"],
      ["c2", "city", "Lyon", "active"],
      ["c2", "seats", 12, "active"],
      ["c3", "order_number", "ORD-77", "active"]
    ])
    for (const row of rows) {
      expect(row.source).toBe("INFERENCE")
      expect(row.source_metadata).toMatchObject({
        model: "fake-model-2026-01",
        template: "entity-extraction@1"
      })
      expect(row.source_item_id).toBe(`${row.source_metadata.turn_id}:inference`)
    }
    expect(rows.find((r) => r.name === "order_number")?.case_id).toBe("case-9")

    // derivation: the extracted email leads back to the turn that said it, whose record is stored
    const email = rows.find((r) => r.name === "email")!
    const chain = await turnvault(["items", "chain", "--tenant", "t1", "--item", email.id], {
      DATABASE_URL: database.url
    })
    const links = chain.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line))
    expect(links[0]).toMatchObject({ id: email.id, source_item_type: "inference" })
    expect(links[0].source_metadata.derived_from).toEqual(["turn:s1-1"])
    const records = await queryRows<{ turn_id: string }>(
      database.url,
      "SELECT turn_id FROM turn_records WHERE turn_id = 's1-1'"
    )
    expect(records).toHaveLength(1)

    // a rolling summary per session, with the turns it covers
    const summaries = await queryRows<{
      session_id: string
      covers_turn_ids: string[]
      summary: string
      template: string
    }>(
      database.url,
      "SELECT session_id, covers_turn_ids, summary, template FROM session_summaries ORDER BY session_id"
    )
    // (asked beside the extraction: a turn whose extraction was dead-lettered is summarised all the same)
    expect(summaries.map((s) => [s.session_id, s.covers_turn_ids])).toEqual([
      ["s1", ["s1-1", "s1-2"]],
      ["s2", ["s2-1", "s2-2"]],
      ["s3", ["s3-1", "s3-2"]],
      ["s4", ["s4-1"]]
    ])
    expect(summaries[0]!.template).toBe("session-summary@1")
    // sealed in the table (TURNVAULT_KEK): derived from the texts, they are the customer's too
    expect(summaries.filter((s) => s.summary.includes("wrote about"))).toEqual([])
    // readable by the CLI (with the key-encryption key) and by the tenant's admin API
    const shown = await turnvault(["summary", "--tenant", "t1", "--session", "s2"], env)
    expect(JSON.parse(shown.stdout)).toMatchObject({
      session_id: "s2",
      covers_turn_ids: ["s2-1", "s2-2"],
      summary: "The customer wrote about timeout.",
      model: "fake-model-2026-01"
    })
    const key = JSON.parse(
      (
        await turnvault(["keys", "create", "--tenant", "t1", "--by", "ingest-test"], {
          DATABASE_URL: database.url
        })
      ).stdout
    ).token as string
    const fromApi = await fetch(`http://127.0.0.1:${pipeline.port}/v1/sessions/s1/summary`, {
      headers: { authorization: `Bearer ${key}` }
    })
    expect(fromApi.status, await fromApi.clone().text()).toBe(200)
    expect(await fromApi.json()).toMatchObject({
      tenant_id: "t1",
      session_id: "s1",
      covers_turn_ids: ["s1-1", "s1-2"]
    })
    const none = await fetch(`http://127.0.0.1:${pipeline.port}/v1/sessions/s9/summary`, {
      headers: { authorization: `Bearer ${key}` }
    })
    expect(none.status).toBe(404)

    // delivered again, every task is a duplicate: no second result, no second extraction
    const extractRequests = [...seen].filter(([k]) => k.startsWith("extract:")).reduce((n, [, v]) => n + v, 0)
    const tasks: Array<{ key: string | null; value: string }> = []
    const reader = kafka.consumer({ groupId: uniqueName("task-reader") })
    await reader.connect()
    await reader.subscribe({ topic: topics.memoryIngestion, fromBeginning: true })
    await reader.run({
      eachMessage: async ({ message }) =>
        void tasks.push({ key: message.key?.toString() ?? null, value: message.value!.toString() })
    })
    await waitFor("the tasks", () => (tasks.length >= TURNS.length ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 200
    })
    await reader.disconnect()
    // sealed: no task carries a turn's text in the clear (each text holds its `#marker`)
    for (const task of tasks)
      expect(JSON.parse(task.value)).toMatchObject({ user_message: "", agent_response: "" })
    expect(tasks.every((t) => JSON.parse(t.value).sealed_texts?.$sealed === "v1")).toBe(true)
    expect(tasks.map((t) => t.value).join("\n")).not.toContain("#")
    await producer.send({
      topic: topics.memoryIngestion,
      messages: tasks.filter((t) => !/s3-2|s4-1/.test(t.value))
    })
    await waitFor(
      "the redelivered tasks",
      async () =>
        metricValue(await worker!.metrics(), "turnvault_ingest_tasks_total") >=
        TURNS.length + EXTRACTED.length
          ? true
          : undefined,
      { timeoutMs: 60_000, intervalMs: 250 }
    )
    const exposition = await worker.metrics()
    expect(exposition).toContain(`turnvault_ingest_tasks_total{result="duplicate"} ${EXTRACTED.length}`)
    expect(exposition).toContain(`turnvault_ingest_tasks_total{result="dead_lettered"} 2`)
    expect(exposition).toMatch(
      /turnvault_ingest_tokens_total\{model="fake-model-2026-01",direction="in"\} [1-9]/
    )
    expect(exposition).toContain(
      'turnvault_ingest_extracted_values_total{field="<unknown>",outcome="unknown_field"} 1'
    )
    expect(exposition).toContain(
      'turnvault_ingest_extracted_values_total{field="plan",outcome="held_for_review"} 1'
    )
    expect([...seen].filter(([k]) => k.startsWith("extract:")).reduce((n, [, v]) => n + v, 0)).toBe(
      extractRequests
    )
    expect(await results()).toHaveLength(EXTRACTED.length)

    // once c1 is erased, its tasks no longer open: delivered again, they are counted as erased
    await turnvault(["erase", "--tenant", "t1", "--customer", "c1", "--by", "dpo"], env)
    await producer.send({
      topic: topics.memoryIngestion,
      messages: tasks.filter((t) => /"s1-/.test(t.value))
    })
    await waitFor(
      "the erased customer's tasks",
      async () =>
        (await worker!.metrics()).includes('turnvault_ingest_tasks_total{result="erased"} 2')
          ? true
          : undefined,
      { timeoutMs: 60_000, intervalMs: 250 }
    )

    // SIGTERM: the worker leaves cleanly
    expect(await worker.stop()).toEqual({ code: 0, signal: null })
    await producer.disconnect()
  }, 240_000)
})
