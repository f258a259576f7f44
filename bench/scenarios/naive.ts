/**
 * The naive baseline, on the same topic and the same stores schema: kafkajs `eachMessage`, one event
 * at a time, sequential awaits; per event separate SELECTs for the session, the customer's profile
 * and the field definitions, the project's own SessionActor over that snapshot (the pure domain
 * functions of src/domain), one INSERT/UPDATE statement per row in autocommit, and one awaited
 * produce per output (turn record, memory-ingestion task, telemetry). Runs for a fixed time budget
 * (or until the topic is drained) and reports its rate.
 */
import { Either, Schema } from "effect"
import pg from "pg"
import { FieldDefinition } from "../../schemas"
import { CustomerSnapshot, SessionActor } from "../../src/sessions/SessionActor"
import { type DataEntry, isConfirmation, type ProfileField, type SessionRecord } from "../../src/domain/model"
import { decodeTurnEvent } from "../../streams/decode"
import { memoryTaskMessage, turnRecordMessage } from "../../src/batch/outputs"
import { outputValueBytes, topicNames } from "../../streams/topics"
import { kafkaFor } from "../lib/kafka"
import { cpuSince, load, log, peakRssMb, round, scenarioArgs, wallMs, writeResult } from "../lib/measure"
import { settings } from "../lib/pureRun"

const args = scenarioArgs({
  brokers: [] as Array<string>,
  prefix: "",
  group: "",
  databaseUrl: "",
  events: 0,
  budgetMs: 15_000
})
const topics = topicNames(args.prefix)
const db = new pg.Client({ connectionString: args.databaseUrl })
await db.connect()
const kafka = kafkaFor(args.brokers, "turnvault-bench-naive")
const producer = kafka.producer({ allowAutoTopicCreation: false })
await producer.connect()
const consumer = kafka.consumer({ groupId: args.group, maxWaitTimeInMs: 250 })
await consumer.connect()
await consumer.subscribe({ topics: [topics.turnEvents], fromBeginning: true })

const decodeDefinition = Schema.decodeUnknownSync(FieldDefinition)
const PROFILE_COLUMNS = `tenant_id, id, customer_id, name, value, scope, status, source, confidence, updated_at,
  source_item_id, source_item_type, source_metadata, superseded_by_id, case_id, expires_at, validation_error`

const send = (topic: string, key: string | null, value: string) =>
  producer.send({ topic, acks: -1, messages: [{ key, value }] })

const saveSession = (record: SessionRecord) =>
  db.query(
    `INSERT INTO sessions (tenant_id, session_id, customer_id, agent_id, status, state, content_hash, version, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (tenant_id, session_id) DO UPDATE SET status = excluded.status, state = excluded.state,
       content_hash = excluded.content_hash, version = excluded.version, updated_at = excluded.updated_at`,
    [
      record.state.tenant_id,
      record.state.session_id,
      record.state.customer_id,
      record.state.agent_id,
      record.state.status,
      JSON.stringify(record.state),
      record.content_hash,
      record.state.version,
      record.state.updated_at
    ]
  )

const writeField = async (row: ProfileField) => {
  await db.query(
    `UPDATE profile_fields SET status = 'superseded', superseded_by_id = $4
     WHERE tenant_id = $1 AND customer_id = $2 AND name = $3 AND status = 'active'`,
    [row.tenant_id, row.customer_id, row.name, row.id]
  )
  await db.query(
    `INSERT INTO profile_fields (${PROFILE_COLUMNS})
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
     ON CONFLICT (tenant_id, id) DO NOTHING`,
    [
      row.tenant_id,
      row.id,
      row.customer_id,
      row.name,
      JSON.stringify(row.value),
      row.scope,
      row.status,
      row.source,
      row.confidence,
      row.updated_at,
      row.source_item_id,
      row.source_item_type,
      JSON.stringify(row.source_metadata),
      row.superseded_by_id,
      row.case_id,
      row.expires_at,
      row.validation_error
    ]
  )
}

let processed = 0
let turns = 0
let firstAt = 0
let lastAt = 0
let stopping = false
const cpu0 = process.cpuUsage()

const handle = async (raw: string) => {
  const decoded = decodeTurnEvent(raw)
  if (Either.isLeft(decoded)) return
  const event = decoded.right
  const session = await db.query<{ state: SessionRecord["state"]; content_hash: string }>(
    "SELECT state, content_hash FROM sessions WHERE tenant_id = $1 AND session_id = $2",
    [event.tenant_id, event.session_id]
  )
  const profile = await db.query<ProfileField>(
    `SELECT ${PROFILE_COLUMNS} FROM profile_fields WHERE tenant_id = $1 AND customer_id = $2 AND status = 'active'`,
    [event.tenant_id, event.customer_id]
  )
  const defs = await db.query<{ definition: unknown }>(
    `SELECT definition || jsonb_build_object('version', version) AS definition FROM field_definitions
     WHERE tenant_id = $1 AND agent_id = $2`,
    [event.tenant_id, event.agent_id]
  )
  const snapshot = new CustomerSnapshot()
  for (const row of profile.rows) {
    const entry: DataEntry = {
      value: row.value,
      source: row.source,
      confidence: row.confidence,
      updated_at: row.updated_at,
      source_item_id: row.source_item_id,
      scope: row.scope,
      history: [],
      ...(row.case_id === null ? {} : { case_id: row.case_id })
    }
    snapshot.profile.set(row.name, entry)
  }
  const definitions = new Map(
    defs.rows.map((r) => {
      const def = decodeDefinition(r.definition)
      return [def.name, def] as const
    })
  )
  const row = session.rows[0]
  const actor = new SessionActor(
    event.tenant_id,
    event.session_id,
    row === undefined ? null : { state: row.state, content_hash: row.content_hash },
    snapshot,
    definitions
  )
  if (event.event_type === "case.closed") {
    actor.handleCaseClosed(event)
    await db.query(
      `UPDATE profile_fields SET status = 'expired'
       WHERE tenant_id = $1 AND customer_id = $2 AND case_id = $3 AND scope = 'CASE' AND status = 'active'`,
      [event.tenant_id, event.customer_id, event.case_id]
    )
    return
  }
  // the benchmark's traffic has no extractions
  if (event.event_type === "extraction.completed") return
  const decision =
    event.event_type === "turn.completed"
      ? actor.handleTurn(event, settings, false)
      : actor.handleEnded(event, settings)
  if (decision.kind !== "applied") return
  const effects = decision.effects
  if (effects.session !== null) await saveSession(effects.session)
  // The baseline writes the new rows only (a confirmation is one more UPDATE that it leaves out).
  for (const field of effects.profileWrites) if (!isConfirmation(field)) await writeField(field)
  if (effects.record !== null) {
    const r = effects.record
    await db.query(
      `INSERT INTO turn_records (tenant_id, turn_id, session_id, turn_number, record, prev_hash, hash, occurred_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
      [
        r.tenant_id,
        r.turn_id,
        r.session_id,
        r.turn_number,
        JSON.stringify(r),
        r.prev_hash,
        r.hash,
        r.occurred_at
      ]
    )
  }
  if (effects.history !== null) {
    const h = effects.history
    await db.query(
      `INSERT INTO session_history (tenant_id, session_id, seq, event_key, turn_id, prev_content_hash,
         new_content_hash, from_status, to_status, actor, reason, occurred_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
      [
        h.tenant_id,
        h.session_id,
        h.seq,
        h.event_key,
        h.turn_id,
        h.prev_content_hash,
        h.new_content_hash,
        h.from_status,
        h.to_status,
        h.actor,
        h.reason,
        h.occurred_at
      ]
    )
  }
  if (effects.record !== null) {
    const m = turnRecordMessage(topics, effects.record, outputValueBytes())
    await send(m.topic, m.key, String(m.value))
    turns++
  }
  if (effects.memoryTask !== null) {
    const m = memoryTaskMessage(topics, effects.memoryTask)
    await send(m.topic, m.key, String(m.value))
  }
  if (effects.record !== null) {
    await send(
      topics.telemetry,
      event.session_id,
      JSON.stringify({ kind: "turn", tenant_id: event.tenant_id, turn_id: effects.record.turn_id })
    )
  }
}

let joinedAt = 0
consumer.on(consumer.events.GROUP_JOIN, () => {
  joinedAt ||= wallMs()
})
const done = new Promise<void>((resolve) => {
  void consumer.run({
    eachMessage: async ({ message }) => {
      if (stopping) return
      firstAt ||= wallMs()
      await handle(message.value?.toString("utf8") ?? "")
      processed++
      lastAt = wallMs()
      if (processed >= args.events || lastAt - firstAt > args.budgetMs) {
        stopping = true
        resolve()
      }
    }
  })
})
await done
const cpu = cpuSince(cpu0)
log(`naive: ${processed} events, ${turns} turns in ${Math.round(lastAt - firstAt)} ms`)
await consumer.disconnect().catch(() => {})
await producer.disconnect().catch(() => {})
await db.end()
const seconds = (lastAt - joinedAt) / 1000
writeResult({
  events: processed,
  turns,
  seconds: round(seconds),
  turnsPerSec: round(turns / seconds, 0),
  eventsPerSec: round(processed / seconds, 0),
  perTurnMs: round((seconds * 1000) / Math.max(1, turns), 2),
  cpuSeconds: cpu,
  cpuPerTurnUs: round((cpu.total * 1e6) / Math.max(1, turns), 1),
  peakRssMb: peakRssMb(),
  load: load()
})
process.exit(0)
