/**
 * IngestionStore on PostgreSQL (migration 0016). A result is one `INSERT ... ON CONFLICT DO
 * NOTHING` on (tenant_id, turn_id): the first result of a turn stays, whichever instance wrote it
 * (the table is append-only). A summary is an upsert of the session's one row.
 */
import { Effect, Layer } from "effect"
import {
  type IngestionResult,
  IngestionStore,
  IngestionStoreError,
  type SessionSummary
} from "../../ports/IngestionStore"
import { PgClient, storeQuery } from "./PgClient"

const COMPLETED = `SELECT turn_id FROM ingestion_results WHERE tenant_id = $1 AND turn_id = ANY($2::text[])`

/** One statement for a batch's results: a JSON array of rows. */
const RECORD = `
INSERT INTO ingestion_results
  (tenant_id, turn_id, session_id, customer_id, completed_at, template, model, extracted, needs_review, dropped)
SELECT tenant_id, turn_id, session_id, customer_id, completed_at, template, model, extracted, needs_review, dropped
FROM jsonb_to_recordset($1::jsonb) AS input(
  tenant_id text, turn_id text, session_id text, customer_id text, completed_at timestamptz, template text,
  model text, extracted int, needs_review int, dropped jsonb)
ON CONFLICT (tenant_id, turn_id) DO NOTHING`

const RESULT = `
SELECT tenant_id, turn_id, session_id, customer_id, completed_at, template, model, extracted, needs_review, dropped
FROM ingestion_results WHERE tenant_id = $1 AND turn_id = $2`

const SUMMARY = `
SELECT tenant_id, session_id, customer_id, summary, covers_turn_ids, through_turn_number, template, model, updated_at
FROM session_summaries WHERE tenant_id = $1 AND session_id = $2`

const SAVE_SUMMARY = `
INSERT INTO session_summaries
  (tenant_id, session_id, customer_id, summary, covers_turn_ids, through_turn_number, template, model, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (tenant_id, session_id) DO UPDATE SET
  summary = EXCLUDED.summary, covers_turn_ids = EXCLUDED.covers_turn_ids,
  through_turn_number = EXCLUDED.through_turn_number, template = EXCLUDED.template,
  model = EXCLUDED.model, updated_at = EXCLUDED.updated_at`

interface ResultRow extends Omit<IngestionResult, "completed_at"> {
  readonly completed_at: Date
}

interface SummaryRow extends Omit<SessionSummary, "updated_at"> {
  readonly updated_at: Date
}

export const make = Effect.map(PgClient, (pg) => {
  const sql = storeQuery(pg, (operation, cause) => new IngestionStoreError({ operation, cause }))
  return IngestionStore.of({
    completed: (tenantId, turnIds) =>
      turnIds.length === 0
        ? Effect.succeed(new Set<string>())
        : Effect.map(
            sql("completed")<{ turn_id: string }>(COMPLETED, [tenantId, turnIds]),
            (result) => new Set(result.rows.map((row) => row.turn_id))
          ),
    record: (results) =>
      results.length === 0 ? Effect.void : Effect.asVoid(sql("record")(RECORD, [JSON.stringify(results)])),
    result: (tenantId, turnId) =>
      Effect.map(sql("result")<ResultRow>(RESULT, [tenantId, turnId]), (result) => {
        const row = result.rows[0]
        return row === undefined ? null : { ...row, completed_at: row.completed_at.toISOString() }
      }),
    summary: (tenantId, sessionId) =>
      Effect.map(sql("summary")<SummaryRow>(SUMMARY, [tenantId, sessionId]), (result) => {
        const row = result.rows[0]
        return row === undefined ? null : { ...row, updated_at: row.updated_at.toISOString() }
      }),
    saveSummary: (s) =>
      Effect.asVoid(
        sql("saveSummary")(SAVE_SUMMARY, [
          s.tenant_id,
          s.session_id,
          s.customer_id,
          s.summary,
          JSON.stringify(s.covers_turn_ids),
          s.through_turn_number,
          s.template,
          s.model,
          s.updated_at
        ])
      )
  })
})

export const layer: Layer.Layer<IngestionStore, never, PgClient> = Layer.effect(IngestionStore, make)
