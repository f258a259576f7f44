/**
 * The SQL of PgProfileStore: `profile_fields` columns, row mapping and statements. Recency is
 * (`updated_at::timestamptz`, `source_item_id`), the order `fieldWritePlan.compareRecency` uses;
 * text sorts use COLLATE "C" to match JavaScript's string order.
 */
import { MAX_DERIVATION_HOPS, TURN_SOURCE_PREFIX } from "../../domain/fieldWritePlan"
import type { ProfileField } from "../../domain/model"

export const COLUMNS = `tenant_id, id, customer_id, name, value, scope, status, source, confidence, updated_at,
  source_item_id, source_item_type, source_metadata, superseded_by_id, case_id, expires_at, validation_error,
  confirmed_at, confirmed_by, definition_version`

const RECORD_TYPE = `tenant_id text, id text, customer_id text, name text, value jsonb, scope text, status text,
  source text, confidence double precision, updated_at text, source_item_id text, source_item_type text,
  source_metadata jsonb, superseded_by_id text, case_id text, expires_at text, validation_error text,
  confirmed_at text, confirmed_by text, definition_version integer`

export const RECENCY = `updated_at::timestamptz, source_item_id COLLATE "C"`

export const LIST_ORDER = `tenant_id COLLATE "C", customer_id COLLATE "C", name COLLATE "C", ${RECENCY}, id COLLATE "C"`

/** The ids a row of alias `p` derives from: `source_metadata.derived_from` as one id or a list. */
const derivedFromIds = (p: string) => `(
  SELECT d.src #>> '{}' AS id
  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(${p}.source_metadata -> 'derived_from') = 'array'
    THEN ${p}.source_metadata -> 'derived_from'
    ELSE jsonb_build_array(${p}.source_metadata -> 'derived_from') END) AS d(src)
  WHERE jsonb_typeof(d.src) = 'string')`

/** $1 lock keys: serializes concurrent writers of the same customers, in one global order (no deadlock). */
export const LOCK_FIELDS = `
SELECT pg_advisory_xact_lock(h)
FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS keys`

/**
 * What a batch's plan reads, once, each row tagged with the look-up that found it: 1, the (tenant,
 * id) $1,$2 of its new rows; 2, the active rows and 4, the expired CASE rows of the (tenant,
 * customer, name) $3,$4,$5 it writes; 3, the active CASE rows of the (tenant, customer, case)
 * $6,$7,$8 it closes. Index look-ups joined by UNION ALL (an OR of the sets was planned as a
 * sequential scan). No FOR UPDATE and no lock: see ProfileStore.applyOps (one owner per
 * customer); `writeFields` takes LOCK_FIELDS.
 */
export const SELECT_STORED = `
SELECT 1 AS lookup, ${COLUMNS} FROM profile_fields
WHERE (tenant_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
UNION ALL
SELECT 2, ${COLUMNS} FROM profile_fields
WHERE status = 'active'
  AND (tenant_id, customer_id, name) IN (SELECT * FROM unnest($3::text[], $4::text[], $5::text[]))
UNION ALL
SELECT 3, ${COLUMNS} FROM profile_fields
WHERE status = 'active' AND scope = 'CASE'
  AND (tenant_id, customer_id, case_id) IN (SELECT * FROM unnest($6::text[], $7::text[], $8::text[]))
UNION ALL
SELECT 4, ${COLUMNS} FROM profile_fields
WHERE status = 'expired' AND scope = 'CASE'
  AND (tenant_id, customer_id, name) IN (SELECT * FROM unnest($3::text[], $4::text[], $5::text[]))`

/** $1,$2 (tenant, id) of active rows a case closure expired. */
export const EXPIRE_ROWS = `
UPDATE profile_fields AS p SET status = 'expired'
FROM unnest($1::text[], $2::text[]) AS u(tenant_id, id)
WHERE p.tenant_id = u.tenant_id AND p.id = u.id AND p.status <> 'deleted'`

export const SUPERSEDE = `
UPDATE profile_fields AS p SET status = 'superseded', superseded_by_id = u.by_id
FROM unnest($1::text[], $2::text[], $3::text[]) AS u(tenant_id, id, by_id)
WHERE p.tenant_id = u.tenant_id AND p.id = u.id AND p.status <> 'deleted'`

/** $1,$2 (tenant, id) of active rows a newer turn confirmed; $3,$4 that turn's (occurred_at, turn_id). */
export const CONFIRM = `
UPDATE profile_fields AS p SET confirmed_at = u.confirmed_at, confirmed_by = u.confirmed_by
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(tenant_id, id, confirmed_at, confirmed_by)
WHERE p.tenant_id = u.tenant_id AND p.id = u.id`

export const INSERT = `
INSERT INTO profile_fields (${COLUMNS})
SELECT ${COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS input(${RECORD_TYPE})
ON CONFLICT (tenant_id, id) DO NOTHING`

/**
 * $1 tenant, $2 customer, $3 history limit per field name: the active rows, the most recent
 * superseded ones and every expired CASE row (the store keeps the latest per name).
 */
export const LOAD_CUSTOMER = `
SELECT ${COLUMNS} FROM (
  SELECT *, row_number() OVER (PARTITION BY name, status
    ORDER BY updated_at::timestamptz DESC, source_item_id COLLATE "C" DESC) AS recent
  FROM profile_fields
  WHERE tenant_id = $1 AND customer_id = $2
    AND (status IN ('active', 'superseded') OR (status = 'expired' AND scope = 'CASE'))
) AS rows
WHERE status <> 'superseded' OR recent <= $3
ORDER BY ${LIST_ORDER}`

/** LOAD_CUSTOMER for many customers: $1 tenant ids, $2 customer ids (pairwise), $3 history limit. */
export const LOAD_CUSTOMERS = `
SELECT ${COLUMNS} FROM (
  SELECT p.*, row_number() OVER (PARTITION BY p.tenant_id, p.customer_id, p.name, p.status
    ORDER BY p.updated_at::timestamptz DESC, p.source_item_id COLLATE "C" DESC) AS recent
  FROM (SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) AS k(tenant_id, customer_id)) AS k
  JOIN profile_fields AS p ON p.tenant_id = k.tenant_id AND p.customer_id = k.customer_id
  WHERE p.status IN ('active', 'superseded') OR (p.status = 'expired' AND p.scope = 'CASE')
) AS rows
WHERE status <> 'superseded' OR recent <= $3
ORDER BY ${LIST_ORDER}`

export const LIST = `
SELECT ${COLUMNS} FROM profile_fields
WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR customer_id = $2)
  AND ($3::boolean OR status = 'active')
ORDER BY ${LIST_ORDER}`

/** $1 tenant, $2 customer, $3 name: every row of one field, newest first. */
export const FIELD_HISTORY = `
SELECT ${COLUMNS} FROM profile_fields
WHERE tenant_id = $1 AND customer_id = $2 AND name = $3
ORDER BY updated_at::timestamptz DESC, source_item_id COLLATE "C" DESC, id COLLATE "C"`

export const EXPIRE_CASE = `
UPDATE profile_fields SET status = 'expired'
WHERE tenant_id = $1 AND customer_id = $2 AND case_id = $3 AND scope = 'CASE' AND status = 'active'
RETURNING id`

/** The columns a job returns for each row it changed (the port's ChangedItem). */
const CHANGED = "tenant_id, customer_id, id, name, source_item_id"

/** $1 now: active rows past `expires_at` become expired; returns them. */
export const EXPIRE_STALE = `
UPDATE profile_fields SET status = 'expired'
WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at::timestamptz < $1
RETURNING ${CHANGED}`

export const MARK_ORPHANS = `
UPDATE profile_fields AS p SET status = 'orphaned'
WHERE p.status = 'active'
  AND p.source_metadata ? 'derived_from'
  AND EXISTS (
    SELECT 1 FROM ${derivedFromIds("p")} AS src
    WHERE src.id NOT LIKE '${TURN_SOURCE_PREFIX}%'
    AND NOT EXISTS (
      SELECT 1 FROM profile_fields s WHERE s.tenant_id = p.tenant_id AND s.id = src.id AND s.status <> 'deleted')
    AND NOT EXISTS (
      SELECT 1 FROM profile_assets a WHERE a.tenant_id = p.tenant_id AND a.id = src.id AND a.status <> 'deleted'))
RETURNING ${CHANGED}`

/**
 * $1 tenant or null (every tenant): per derivation depth, the active items that name sources (see
 * fieldWritePlan `derivationDepths`).
 */
export const DERIVATION_DEPTHS = `
WITH RECURSIVE walk(tenant_id, root, id, hops, path) AS (
  SELECT tenant_id, id, id, 0, ARRAY[id] FROM profile_fields
  WHERE status = 'active' AND source_metadata ? 'derived_from' AND ($1::text IS NULL OR tenant_id = $1)
  UNION ALL
  SELECT w.tenant_id, w.root, s.id, w.hops + 1, w.path || s.id
  FROM walk AS w
  JOIN profile_fields AS p ON p.tenant_id = w.tenant_id AND p.id = w.id
  CROSS JOIN LATERAL ${derivedFromIds("p")} AS src
  JOIN profile_fields AS s ON s.tenant_id = w.tenant_id AND s.id = src.id
  WHERE w.hops < ${MAX_DERIVATION_HOPS} AND NOT s.id = ANY(w.path)
),
reach AS (
  SELECT w.tenant_id, w.root,
    max(w.hops + CASE WHEN EXISTS (SELECT 1 FROM ${derivedFromIds("p")} AS src) THEN 1 ELSE 0 END) AS depth
  FROM walk AS w
  JOIN profile_fields AS p ON p.tenant_id = w.tenant_id AND p.id = w.id
  GROUP BY w.tenant_id, w.root
)
SELECT depth, count(*)::int AS items FROM reach WHERE depth > 0 GROUP BY depth ORDER BY depth`

/** $1 tenant, $2 id: the item, then what it derives from, by distance then id. */
export const DERIVATION_CHAIN = `
WITH RECURSIVE chain(id, depth, path) AS (
  SELECT id, 0, ARRAY[id] FROM profile_fields WHERE tenant_id = $1 AND id = $2
  UNION ALL
  SELECT s.id, c.depth + 1, c.path || s.id
  FROM chain AS c
  JOIN profile_fields AS p ON p.tenant_id = $1 AND p.id = c.id
  CROSS JOIN LATERAL ${derivedFromIds("p")} AS src
  JOIN profile_fields AS s ON s.tenant_id = $1 AND s.id = src.id
  WHERE NOT s.id = ANY(c.path)
)
SELECT ${COLUMNS}
FROM (SELECT id, min(depth) AS depth FROM chain GROUP BY id) AS c
JOIN profile_fields AS p USING (id)
WHERE p.tenant_id = $1
ORDER BY c.depth, id COLLATE "C"`

/** Rows of alias `p` that name the id `src` (a SQL expression) in their derived_from. */
const namesSource = (p: string, src: string) =>
  `(${p}.source_metadata ->> 'derived_from' = ${src} OR ${p}.source_metadata -> 'derived_from' @> jsonb_build_array(${src}::text))`

/** $1 tenant, $2 id: the live items derived from it, directly. */
export const DERIVED_ITEMS = `
SELECT ${COLUMNS} FROM profile_fields AS p
WHERE p.tenant_id = $1 AND p.status <> 'deleted' AND ${namesSource("p", "$2")}
ORDER BY p.id COLLATE "C"`

/** $1 tenant, $2 id: every live item derived from it, however indirectly (cycles cut). */
export const DEPENDENTS = `
WITH RECURSIVE dependents(id, path) AS (
  SELECT p.id, ARRAY[$2::text, p.id] FROM profile_fields AS p
  WHERE p.tenant_id = $1 AND p.status <> 'deleted' AND ${namesSource("p", "$2")}
  UNION ALL
  SELECT p.id, d.path || p.id
  FROM dependents AS d
  JOIN profile_fields AS p ON p.tenant_id = $1 AND p.status <> 'deleted' AND ${namesSource("p", "d.id")}
  WHERE NOT p.id = ANY(d.path)
)
SELECT id FROM (SELECT DISTINCT id FROM dependents) AS d ORDER BY id COLLATE "C"`

/** $1 tenant, $2 id: the row, locked for the deletion. */
export const ITEM_STATUS = `
SELECT status FROM profile_fields WHERE tenant_id = $1 AND id = $2 FOR UPDATE`

/** $1 tenant, $2 ids, $3 at, $4 by, $5 reason, $6 the requested id: rows become tombstones. */
export const TOMBSTONE = `
WITH marked AS (
  UPDATE profile_fields SET status = 'deleted'
  WHERE tenant_id = $1 AND id = ANY($2::text[]) AND status <> 'deleted'
  RETURNING id, customer_id, name, source_item_id
), stones AS (
  INSERT INTO profile_tombstones (tenant_id, item_id, deleted_at, deleted_by, reason, cascade_of)
  SELECT $1, id, $3::timestamptz, $4, $5, CASE WHEN id = $6 THEN NULL ELSE $6 END FROM marked
  RETURNING tenant_id, item_id, deleted_at, deleted_by, reason, cascade_of
)
SELECT s.tenant_id, s.item_id, s.deleted_at, s.deleted_by, s.reason, s.cascade_of,
  m.customer_id, m.name, m.source_item_id
FROM stones AS s JOIN marked AS m ON m.id = s.item_id`

export const TOMBSTONES = `
SELECT tenant_id, item_id, deleted_at, deleted_by, reason, cascade_of FROM profile_tombstones
WHERE tenant_id = $1 ORDER BY deleted_at, item_id COLLATE "C"`

export interface FieldRow extends Omit<ProfileField, "value"> {
  readonly value: unknown
}

export const fromRow = (row: FieldRow): ProfileField => ({ ...row, value: row.value ?? null })

/** (tenant, customer, name) as a text lock key; JSON because text cannot hold the NUL separator. */
/** Writers lock per customer: a batch locks all of its customers at once, in one global order. */
export const lockKey = (row: { readonly tenant_id: string; readonly customer_id: string }) =>
  JSON.stringify([row.tenant_id, row.customer_id])

const ASSET_COLUMNS = `tenant_id, id, customer_id, kind, uri, inline_ref, mime_type, size_bytes, sha256,
  derived_from_tool, status, source_item_id, source_item_type, source_metadata, created_at`

const ASSET_TYPE = `tenant_id text, id text, customer_id text, kind text, uri text, inline_ref text,
  mime_type text, size_bytes bigint, sha256 text, derived_from_tool text, status text, source_item_id text,
  source_item_type text, source_metadata jsonb, created_at text`

/** $1 assets as JSON: inserted unless the tenant has the id already. */
export const INSERT_ASSETS = `
INSERT INTO profile_assets (${ASSET_COLUMNS})
SELECT ${ASSET_COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS input(${ASSET_TYPE})
ON CONFLICT (tenant_id, id) DO NOTHING`

/** $1 tenant or null, $2 customer or null. size_bytes as float8: it comes back a number, not text. */
export const LIST_ASSETS = `
SELECT tenant_id, id, customer_id, kind, uri, inline_ref, mime_type, size_bytes::float8 AS size_bytes, sha256,
  derived_from_tool, status, source_item_id, source_item_type, source_metadata, created_at
FROM profile_assets
WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR customer_id = $2)
ORDER BY tenant_id COLLATE "C", customer_id COLLATE "C", id COLLATE "C"`
