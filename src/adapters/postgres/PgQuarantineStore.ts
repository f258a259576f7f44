/**
 * QuarantineStore on PostgreSQL (table `quarantined_events`). `park` and `resolve` run in the
 * batch's transaction (the ambient connection): a session is quarantined, released or dropped
 * together with the partition's durable offset, or not at all.
 */
import { Effect, Layer } from "effect"
import {
  type ParkReason,
  type ParkedStatus,
  type QuarantineFilter,
  QuarantineStore,
  QuarantineStoreError,
  type StoredParkedEvent
} from "../../ports/QuarantineStore"
import { PgClient, storeQuery } from "./PgClient"

const PARK = `
INSERT INTO quarantined_events (tenant_id, session_id, customer_id, event_id, turn_id, topic, partition,
  record_offset, record_key, value, headers, reason, error)
SELECT tenant_id, session_id, customer_id, event_id, turn_id, topic, partition,
  record_offset, record_key, decode(value, 'base64'), headers, reason, error
FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(row, ord),
  jsonb_to_record(e.row) AS x(tenant_id text, session_id text, customer_id text, event_id text,
  turn_id text, topic text, partition int, record_offset bigint, record_key text, value text,
  headers jsonb, reason text, error text)
ORDER BY e.ord`

const RESOLVE = `
UPDATE quarantined_events AS q SET status = x.status, resolved_by = x.by, resolved_at = now()
FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, session_id text, seq bigint, status text, by text)
WHERE q.tenant_id = x.tenant_id AND q.session_id = x.session_id AND q.seq = x.seq AND q.status = 'parked'`

const COLUMNS = `tenant_id, session_id, seq::text AS seq, customer_id, event_id, turn_id, topic, partition,
  record_offset::text AS offset, record_key AS key, value, headers, reason, error, status,
  to_char(parked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS parked_at, resolved_by`

const SESSIONS = `
SELECT DISTINCT ON (tenant_id, session_id) tenant_id, session_id, customer_id, topic, partition,
  count(*) OVER (PARTITION BY tenant_id, session_id)::int AS events,
  to_char(parked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS first_parked_at, reason, error
FROM quarantined_events
WHERE status = 'parked' AND ($1::text IS NULL OR tenant_id = $1)
  AND ($2::text IS NULL OR topic = $2) AND ($3::int IS NULL OR partition = $3)
ORDER BY tenant_id, session_id, seq`

interface Row extends Omit<StoredParkedEvent, "reason" | "status"> {
  readonly reason: ParkReason
  readonly status: ParkedStatus
}

const fromRow = (row: Row): StoredParkedEvent => ({ ...row, value: Buffer.from(row.value) })

export const make = Effect.gen(function* () {
  const pg = yield* PgClient
  const sql = storeQuery(pg, (operation, cause) => new QuarantineStoreError({ operation, cause }))

  return QuarantineStore.of({
    park: (events) =>
      events.length === 0
        ? Effect.void
        : Effect.asVoid(
            sql("park")(PARK, [
              JSON.stringify(
                events.map((event) => ({
                  ...event,
                  record_offset: event.offset,
                  record_key: event.key,
                  value: event.value.toString("base64")
                }))
              )
            ])
          ),
    resolve: (resolutions) =>
      resolutions.length === 0
        ? Effect.void
        : Effect.asVoid(
            sql("resolve")(RESOLVE, [
              JSON.stringify(
                resolutions.flatMap((r) =>
                  r.seqs.map((seq) => ({
                    tenant_id: r.tenant_id,
                    session_id: r.session_id,
                    seq,
                    status: r.status,
                    by: r.by
                  }))
                )
              )
            ])
          ),
    sessions: (filter: QuarantineFilter) =>
      Effect.map(
        sql("sessions")(SESSIONS, [filter.tenantId ?? null, filter.topic ?? null, filter.partition ?? null]),
        (result) => result.rows as never
      ),
    events: (tenantId, sessionId) =>
      Effect.map(
        sql("events")<Row>(
          `SELECT ${COLUMNS} FROM quarantined_events WHERE tenant_id = $1 AND session_id = $2 ORDER BY seq`,
          [tenantId, sessionId]
        ),
        (result) => result.rows.map(fromRow)
      ),
    resolvedBy: (by) =>
      Effect.map(
        sql("resolvedBy")<Row>(
          `SELECT ${COLUMNS} FROM quarantined_events WHERE resolved_by = $1 ORDER BY seq`,
          [by]
        ),
        (result) => result.rows.map(fromRow)
      ),
    parkedOffsets: (topic, partition, offsets) =>
      offsets.length === 0
        ? Effect.succeed(new Set<string>())
        : Effect.map(
            sql("parkedOffsets")<{ offset: string }>(
              `SELECT DISTINCT record_offset::text AS offset FROM quarantined_events
               WHERE topic = $1 AND partition = $2 AND record_offset = ANY($3::bigint[])`,
              [topic, partition, offsets]
            ),
            (result) => new Set(result.rows.map((row) => row.offset))
          )
  })
})

export const layer: Layer.Layer<QuarantineStore, never, PgClient> = Layer.effect(QuarantineStore, make)
