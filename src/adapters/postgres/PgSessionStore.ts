/**
 * SessionStore on PostgreSQL (table `sessions`). A batch is saved with one upsert statement. Who may
 * write a session is decided before, by the partition's claim checked in the same transaction
 * (PgPartitionOwnership), so the upsert itself compares nothing.
 */
import { Effect, Layer } from "effect"
import type { SessionColumns } from "../../domain/integrity"
import { type SessionRecord, type SessionState, sessionKey } from "../../domain/model"
import { type SessionFilter, type SessionId, SessionStore, SessionStoreError } from "../../ports/SessionStore"
import { PgClient, storeQuery } from "./PgClient"

const SAVE = `
INSERT INTO sessions AS s
  (tenant_id, session_id, customer_id, agent_id, status, state, content_hash, version, updated_at)
SELECT tenant_id, session_id, customer_id, agent_id, status, state, content_hash, version, updated_at
FROM jsonb_to_recordset($1::jsonb) AS x(
  tenant_id text, session_id text, customer_id text, agent_id text, status text,
  state jsonb, content_hash text, version bigint, updated_at timestamptz)
ON CONFLICT (tenant_id, session_id) DO UPDATE SET
  customer_id = excluded.customer_id, agent_id = excluded.agent_id, status = excluded.status,
  state = excluded.state, content_hash = excluded.content_hash, version = excluded.version,
  updated_at = excluded.updated_at`

/** $1 tenant ids, $2 session ids (pairwise): the stored ones, by 1-based position in the input. */
const LOAD_MANY = `
SELECT k.ord, s.state, s.content_hash
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(tenant_id, session_id, ord)
JOIN sessions AS s ON s.tenant_id = k.tenant_id AND s.session_id = k.session_id`

/** The last record of each session, in first-seen order (one upsert cannot touch a row twice). */
const latestPerSession = (records: ReadonlyArray<SessionRecord>): Array<SessionRecord> => {
  const latest = new Map<string, SessionRecord>()
  for (const record of records)
    latest.set(sessionKey(record.state.tenant_id, record.state.session_id), record)
  return [...latest.values()]
}

const toInput = (record: SessionRecord) => ({
  tenant_id: record.state.tenant_id,
  session_id: record.state.session_id,
  customer_id: record.state.customer_id,
  agent_id: record.state.agent_id,
  status: record.state.status,
  state: record.state,
  content_hash: record.content_hash,
  version: record.state.version,
  updated_at: record.state.updated_at
})

interface Row {
  readonly state: SessionState
  readonly content_hash: string
}

const toRecord = (row: Row): SessionRecord => ({ state: row.state, content_hash: row.content_hash })

export const make = Effect.gen(function* () {
  const pg = yield* PgClient
  const sql = storeQuery(pg, (operation, cause) => new SessionStoreError({ operation, cause }))

  const load = Effect.fn("PgSessionStore.load")(function* (tenantId: string, sessionId: string) {
    const result = yield* sql("load")<Row>(
      "SELECT state, content_hash FROM sessions WHERE tenant_id = $1 AND session_id = $2",
      [tenantId, sessionId]
    )
    const row = result.rows[0]
    return row === undefined ? null : toRecord(row)
  })

  const loadMany = Effect.fn("PgSessionStore.loadMany")(function* (ids: ReadonlyArray<SessionId>) {
    if (ids.length === 0) return []
    const result = yield* sql("loadMany")<Row & { readonly ord: string }>(LOAD_MANY, [
      ids.map((id) => id.tenant_id),
      ids.map((id) => id.session_id)
    ])
    const found: Array<SessionRecord | null> = ids.map(() => null)
    for (const row of result.rows) found[Number(row.ord) - 1] = toRecord(row)
    return found
  })

  const save = Effect.fn("PgSessionStore.save")(function* (records: ReadonlyArray<SessionRecord>) {
    if (records.length === 0) return
    yield* sql("save")(SAVE, [JSON.stringify(latestPerSession(records).map(toInput))])
  })

  const list = Effect.fn("PgSessionStore.list")(function* (filter: SessionFilter) {
    const result = yield* sql("list")<Row>(
      `SELECT state, content_hash FROM sessions
       WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR session_id = $2)
       ORDER BY tenant_id COLLATE "C", session_id COLLATE "C"`,
      [filter.tenantId ?? null, filter.sessionId ?? null]
    )
    return result.rows.map(toRecord)
  })

  const listColumns = Effect.fn("PgSessionStore.listColumns")(function* (filter: SessionFilter) {
    const result = yield* sql("listColumns")<SessionColumns>(
      `SELECT tenant_id, session_id, customer_id, agent_id, status FROM sessions
       WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR session_id = $2)
       ORDER BY tenant_id COLLATE "C", session_id COLLATE "C"`,
      [filter.tenantId ?? null, filter.sessionId ?? null]
    )
    return result.rows
  })

  return SessionStore.of({ load, loadMany, save, list, listColumns })
})

export const layer: Layer.Layer<SessionStore, never, PgClient> = Layer.effect(SessionStore, make)
