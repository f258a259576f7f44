/**
 * SessionStore on PostgreSQL (table `sessions`). A batch is saved with one upsert statement; the
 * upsert's WHERE clause is the fence, evaluated against the latest committed row.
 */
import { Effect, Layer } from "effect"
import type { SessionRecord, SessionState } from "../../domain/model"
import { type SessionFilter, type SessionId, SessionStore, SessionStoreError } from "../../ports/SessionStore"
import { PgClient, storeQuery } from "./PgClient"

/**
 * Same-version-same-hash rows are "written" again (a no-op rewrite) so that every row the upsert
 * skips is exactly a fenced one, even when a concurrent writer commits between snapshot and upsert.
 */
const SAVE = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
    ord int, tenant_id text, session_id text, customer_id text, agent_id text, status text,
    state jsonb, content_hash text, version bigint, updated_at timestamptz)
), written AS (
  INSERT INTO sessions AS s
    (tenant_id, session_id, customer_id, agent_id, status, state, content_hash, version, updated_at)
  SELECT tenant_id, session_id, customer_id, agent_id, status, state, content_hash, version, updated_at
  FROM input
  ON CONFLICT (tenant_id, session_id) DO UPDATE SET
    customer_id = excluded.customer_id, agent_id = excluded.agent_id, status = excluded.status,
    state = excluded.state, content_hash = excluded.content_hash, version = excluded.version,
    updated_at = excluded.updated_at
  WHERE s.version < excluded.version
     OR (s.version = excluded.version AND s.content_hash = excluded.content_hash)
  RETURNING s.tenant_id, s.session_id
)
SELECT i.tenant_id, i.session_id FROM input i
WHERE NOT EXISTS (SELECT 1 FROM written w WHERE w.tenant_id = i.tenant_id AND w.session_id = i.session_id)
ORDER BY i.ord`

/** $1 tenant ids, $2 session ids (pairwise): the stored ones, by 1-based position in the input. */
const LOAD_MANY = `
SELECT k.ord, s.state, s.content_hash
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(tenant_id, session_id, ord)
JOIN sessions AS s ON s.tenant_id = k.tenant_id AND s.session_id = k.session_id`

/** Splits a batch so no round holds a session twice (one upsert cannot touch a row twice); order is kept. */
const rounds = (records: ReadonlyArray<SessionRecord>): Array<Array<SessionRecord>> => {
  const result: Array<Array<SessionRecord>> = []
  const roundOf = new Map<string, number>()
  for (const record of records) {
    const key = `${record.state.tenant_id}\u0000${record.state.session_id}`
    const round = (roundOf.get(key) ?? -1) + 1
    roundOf.set(key, round)
    const members = result[round] ?? []
    result[round] = members
    members.push(record)
  }
  return result
}

const toInput = (record: SessionRecord, ord: number) => ({
  ord,
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
    const fenced: Array<SessionId> = []
    for (const round of rounds(records)) {
      const result = yield* sql("save")<SessionId>(SAVE, [JSON.stringify(round.map(toInput))])
      fenced.push(...result.rows.map((row) => ({ tenant_id: row.tenant_id, session_id: row.session_id })))
    }
    return fenced
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

  return SessionStore.of({ load, loadMany, save, list })
})

export const layer: Layer.Layer<SessionStore, never, PgClient> = Layer.effect(SessionStore, make)
