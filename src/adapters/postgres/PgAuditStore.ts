/**
 * AuditStore on PostgreSQL (tables `turn_records`, `session_history`). Append-only: one
 * `INSERT ... ON CONFLICT DO NOTHING` per table per batch; the database refuses any change after.
 */
import { Effect, Layer } from "effect"
import type { TurnRecord } from "../../../schemas"
import type { ChainHead } from "../../domain/checkpoint"
import type { RecordColumns } from "../../domain/integrity"
import type { SessionHistoryEntry } from "../../domain/model"
import { type AuditFilter, AuditStore, AuditStoreError } from "../../ports/AuditStore"
import { PgClient, storeQuery } from "./PgClient"

const APPEND_RECORDS = `
INSERT INTO turn_records (tenant_id, turn_id, session_id, turn_number, record, prev_hash, hash, occurred_at)
SELECT r->>'tenant_id', r->>'turn_id', r->>'session_id', (r->>'turn_number')::int, r,
       r->>'prev_hash', r->>'hash', (r->>'occurred_at')::timestamptz
FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS input(r, ord)
ORDER BY ord
ON CONFLICT (tenant_id, turn_id) DO NOTHING`

const HISTORY_COLUMNS = `tenant_id, session_id, seq, event_key, turn_id, prev_content_hash, new_content_hash,
  from_status, to_status, actor, reason, occurred_at, entry_hash`

const APPEND_HISTORY = `
INSERT INTO session_history (${HISTORY_COLUMNS})
SELECT ${HISTORY_COLUMNS}
FROM jsonb_to_recordset($1::jsonb) AS input(
  tenant_id text, session_id text, seq int, event_key text, turn_id text, prev_content_hash text,
  new_content_hash text, from_status text, to_status text, actor text, reason text, occurred_at text,
  entry_hash text)
ON CONFLICT (tenant_id, session_id, seq) DO NOTHING`

/**
 * The heads of every session written at or after $1 (the BRIN indexes of migration 0018 find
 * them), in one statement: one snapshot, so each head is a prefix of what later reads see. The
 * head record is the last in listRecords' order.
 */
const chainHeadsSql = (touched: string) => `
WITH touched AS (${touched})
SELECT now() AS cut, coalesce((
  SELECT json_agg(json_build_object(
    'tenant_id', t.tenant_id, 'session_id', t.session_id,
    'records', coalesce(r.n, 0), 'record_head', r.head,
    'entries', coalesce(h.n, 0), 'entry_head', h.head))
  FROM touched t
  LEFT JOIN LATERAL (
    SELECT count(*) AS n, (array_agg(hash ORDER BY turn_number DESC, turn_id COLLATE "C" DESC))[1] AS head
    FROM turn_records r WHERE r.tenant_id = t.tenant_id AND r.session_id = t.session_id) r ON true
  LEFT JOIN LATERAL (
    SELECT count(*) AS n, (array_agg(entry_hash ORDER BY seq DESC))[1] AS head
    FROM session_history h WHERE h.tenant_id = t.tenant_id AND h.session_id = t.session_id) h ON true
), '[]'::json) AS heads`

const HEADS_SINCE = chainHeadsSql(`
  SELECT tenant_id, session_id FROM turn_records WHERE recorded_at >= $1
  UNION SELECT tenant_id, session_id FROM session_history WHERE recorded_at >= $1`)

const ALL_HEADS = chainHeadsSql(`
  SELECT tenant_id, session_id FROM turn_records
  UNION SELECT tenant_id, session_id FROM session_history`)

const FILTER = `($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR session_id = $2)`

const filterParams = (filter: AuditFilter) => [filter.tenantId ?? null, filter.sessionId ?? null]

export const make = Effect.gen(function* () {
  const pg = yield* PgClient
  const sql = storeQuery(pg, (operation, cause) => new AuditStoreError({ operation, cause }))

  const append = Effect.fn("PgAuditStore.append")(function* (
    records: ReadonlyArray<TurnRecord>,
    history: ReadonlyArray<SessionHistoryEntry>
  ) {
    if (records.length > 0) yield* sql("append.records")(APPEND_RECORDS, [JSON.stringify(records)])
    if (history.length > 0) yield* sql("append.history")(APPEND_HISTORY, [JSON.stringify(history)])
  })

  const recordedTurns = Effect.fn("PgAuditStore.recordedTurns")(function* (
    tenantId: string,
    turnIds: ReadonlyArray<string>
  ) {
    if (turnIds.length === 0) return new Set<string>()
    const result = yield* sql("recordedTurns")<{ turn_id: string }>(
      "SELECT turn_id FROM turn_records WHERE tenant_id = $1 AND turn_id = ANY($2::text[])",
      [tenantId, turnIds]
    )
    return new Set(result.rows.map((row) => row.turn_id))
  })

  const findRecords = Effect.fn("PgAuditStore.findRecords")(function* (
    tenantId: string,
    turnIds: ReadonlyArray<string>
  ) {
    if (turnIds.length === 0) return []
    const result = yield* sql("findRecords")<{ record: TurnRecord }>(
      "SELECT record FROM turn_records WHERE tenant_id = $1 AND turn_id = ANY($2::text[])",
      [tenantId, turnIds]
    )
    return result.rows.map((row) => row.record)
  })

  const listRecords = Effect.fn("PgAuditStore.listRecords")(function* (filter: AuditFilter) {
    const result = yield* sql("listRecords")<{ record: TurnRecord }>(
      `SELECT record FROM turn_records WHERE ${FILTER}
       ORDER BY tenant_id COLLATE "C", session_id COLLATE "C", turn_number, turn_id COLLATE "C"`,
      filterParams(filter)
    )
    return result.rows.map((row) => row.record)
  })

  const listHistory = Effect.fn("PgAuditStore.listHistory")(function* (filter: AuditFilter) {
    const result = yield* sql("listHistory")<SessionHistoryEntry>(
      `SELECT ${HISTORY_COLUMNS} FROM session_history WHERE ${FILTER}
       ORDER BY tenant_id COLLATE "C", session_id COLLATE "C", seq`,
      filterParams(filter)
    )
    return result.rows
  })

  const listRecordColumns = Effect.fn("PgAuditStore.listRecordColumns")(function* (filter: AuditFilter) {
    const result = yield* sql("listRecordColumns")<
      Omit<RecordColumns, "occurred_at"> & { occurred_at: Date }
    >(
      `SELECT tenant_id, session_id, turn_id, turn_number, occurred_at, hash, prev_hash FROM turn_records
       WHERE ${FILTER}
       ORDER BY tenant_id COLLATE "C", session_id COLLATE "C", turn_number, turn_id COLLATE "C"`,
      filterParams(filter)
    )
    return result.rows.map((row) => ({ ...row, occurred_at: row.occurred_at.toISOString() }))
  })

  const chainHeads = Effect.fn("PgAuditStore.chainHeads")(function* (since: Date | null) {
    const result = yield* sql("chainHeads")<{ cut: Date; heads: Array<ChainHead> }>(
      since === null ? ALL_HEADS : HEADS_SINCE,
      since === null ? [] : [since]
    )
    const row = result.rows[0]!
    return { cut: row.cut, heads: row.heads }
  })

  return AuditStore.of({
    append,
    recordedTurns,
    findRecords,
    listRecords,
    listRecordColumns,
    chainHeads,
    listHistory
  })
})

export const layer: Layer.Layer<AuditStore, never, PgClient> = Layer.effect(AuditStore, make)
