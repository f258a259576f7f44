/**
 * Component ceiling: the raw PostgreSQL write rate of the same rows turnvault writes for the
 * workload (session upserts, profile rows, turn records, ledger entries, derived with the project's
 * SessionActor), with bulk statements: one multi-row INSERT per table per batch of `batchSize`
 * events (jsonb_to_recordset, as the stores use), one transaction per batch, no reads, no locks.
 * Profile rows carry their final status, so the one-active-row index never conflicts. Two variants:
 * one connection, and `connections` connections taking batches concurrently; the best one is the
 * ceiling. (COPY would be faster still, but needs pg-copy-streams, which is not installed.)
 */
import pg from "pg"
import type { TurnRecord } from "../../schemas"
import {
  isConfirmation,
  type ProfileField,
  type SessionHistoryEntry,
  type SessionRecord
} from "../../src/domain/model"
import { distribution, load, log, round, scenarioArgs, wallMs, writeResult } from "../lib/measure"
import { decodeAll, effectsOf } from "../lib/pureRun"
import { makeWorkload } from "../lib/workload"

const args = scenarioArgs({ databaseUrls: [] as Array<string>, events: 0, batchSize: 500, connections: 4 })

interface Batch {
  sessions: Array<SessionRecord>
  fields: Array<ProfileField>
  records: Array<TurnRecord>
  history: Array<SessionHistoryEntry>
}

const workload = makeWorkload(args.events)
const effects = effectsOf(decodeAll(workload.lines))
const batches: Array<Batch> = []
const latest = new Map<string, ProfileField>()
const finalFields: Array<ProfileField> = []
for (let i = 0; i < effects.length; i += args.batchSize) {
  const sessions = new Map<string, SessionRecord>()
  const batch: Batch = { sessions: [], fields: [], records: [], history: [] }
  for (const e of effects.slice(i, i + args.batchSize)) {
    if (e === null) continue
    if (e.session !== null)
      sessions.set(`${e.session.state.tenant_id}/${e.session.state.session_id}`, e.session)
    if (e.record !== null) batch.records.push(e.record)
    if (e.history !== null) batch.history.push(e.history)
    for (const row of e.profileWrites) {
      if (isConfirmation(row)) continue
      const key = `${row.tenant_id}/${row.customer_id}/${row.name}`
      const previous = latest.get(key)
      const copy = { ...row }
      if (previous !== undefined) {
        ;(previous as { status: string }).status = "superseded"
        ;(previous as { superseded_by_id: string | null }).superseded_by_id = row.id
      }
      latest.set(key, copy)
      finalFields.push(copy)
      batch.fields.push(copy)
    }
  }
  batch.sessions = [...sessions.values()].sort((a, b) =>
    a.state.session_id < b.state.session_id ? -1 : a.state.session_id > b.state.session_id ? 1 : 0
  )
  batches.push(batch)
}
const rows = {
  sessions: batches.reduce((n, b) => n + b.sessions.length, 0),
  profileFields: finalFields.length,
  turnRecords: batches.reduce((n, b) => n + b.records.length, 0),
  history: batches.reduce((n, b) => n + b.history.length, 0)
}

const SESSIONS = `
INSERT INTO sessions AS s (tenant_id, session_id, customer_id, agent_id, status, state, content_hash, version, updated_at)
SELECT x.state->>'tenant_id', x.state->>'session_id', x.state->>'customer_id', x.state->>'agent_id',
       x.state->>'status', x.state, x.content_hash, (x.state->>'version')::bigint, (x.state->>'updated_at')::timestamptz
FROM jsonb_to_recordset($1::jsonb) AS x(state jsonb, content_hash text)
ON CONFLICT (tenant_id, session_id) DO UPDATE SET status = excluded.status, state = excluded.state,
  content_hash = excluded.content_hash, version = excluded.version, updated_at = excluded.updated_at`
const FIELD_COLUMNS = `tenant_id, id, customer_id, name, value, scope, status, source, confidence, updated_at,
  source_item_id, source_item_type, source_metadata, superseded_by_id, case_id, expires_at, validation_error`
const FIELDS = `
INSERT INTO profile_fields (${FIELD_COLUMNS})
SELECT ${FIELD_COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, id text, customer_id text,
  name text, value jsonb, scope text, status text, source text, confidence double precision, updated_at text,
  source_item_id text, source_item_type text, source_metadata jsonb, superseded_by_id text, case_id text,
  expires_at text, validation_error text)`
const RECORDS = `
INSERT INTO turn_records (tenant_id, turn_id, session_id, turn_number, record, prev_hash, hash, occurred_at)
SELECT r->>'tenant_id', r->>'turn_id', r->>'session_id', (r->>'turn_number')::int, r, r->>'prev_hash', r->>'hash',
       (r->>'occurred_at')::timestamptz
FROM jsonb_array_elements($1::jsonb) AS input(r)`
const HISTORY_COLUMNS = `tenant_id, session_id, seq, event_key, turn_id, prev_content_hash, new_content_hash,
  from_status, to_status, actor, reason, occurred_at`
const HISTORY = `
INSERT INTO session_history (${HISTORY_COLUMNS})
SELECT ${HISTORY_COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, session_id text, seq int,
  event_key text, turn_id text, prev_content_hash text, new_content_hash text, from_status text, to_status text,
  actor text, reason text, occurred_at text)`

const writeBatch = async (client: pg.PoolClient, batch: Batch) => {
  await client.query("BEGIN")
  if (batch.sessions.length > 0) await client.query(SESSIONS, [JSON.stringify(batch.sessions)])
  if (batch.fields.length > 0) await client.query(FIELDS, [JSON.stringify(batch.fields)])
  if (batch.records.length > 0) await client.query(RECORDS, [JSON.stringify(batch.records)])
  if (batch.history.length > 0) await client.query(HISTORY, [JSON.stringify(batch.history)])
  await client.query("COMMIT")
}

const variant = async (url: string, connections: number) => {
  const pool = new pg.Pool({ connectionString: url, max: connections })
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()))
  let next = 0
  const perBatch: Array<number> = []
  const started = wallMs()
  await Promise.all(
    clients.map(async (client) => {
      while (next < batches.length) {
        const batch = batches[next++]!
        const t = wallMs()
        await writeBatch(client, batch)
        perBatch.push(wallMs() - t)
      }
    })
  )
  const seconds = (wallMs() - started) / 1000
  for (const c of clients) c.release()
  await pool.end()
  const total = rows.sessions + rows.profileFields + rows.turnRecords + rows.history
  log(`pg ceiling, ${connections} connection(s): ${round(workload.stats.turns / seconds, 0)} turns/s`)
  return {
    connections,
    seconds: round(seconds),
    rowsPerSec: round(total / seconds, 0),
    turnsPerSec: round(workload.stats.turns / seconds, 0),
    batchMs: distribution(perBatch)
  }
}

const variants = [
  await variant(args.databaseUrls[0]!, 1),
  await variant(args.databaseUrls[1]!, args.connections)
]
const best = variants.reduce((a, b) => (b.turnsPerSec > a.turnsPerSec ? b : a))
writeResult({
  method:
    "multi-row INSERT ... SELECT FROM jsonb_to_recordset, one statement per table per batch, one transaction per batch",
  batchSize: args.batchSize,
  rows,
  variants,
  best,
  load: load()
})
process.exit(0)
