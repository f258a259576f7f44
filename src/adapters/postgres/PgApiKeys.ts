/**
 * ApiKeys on PostgreSQL: `api_keys` (primary key (tenant, key id)) and the append-only
 * `admin_actions` (migration 0014). A key and its log entry are written in one statement, so the
 * log never misses a key nor names one that was not made.
 */
import { Effect, Layer } from "effect"
import type { KeyScope } from "../../domain/apiKey"
import { type AdminAction, ApiKeyError, ApiKeys, apiKeysOver, type StoredKey } from "../../ports/ApiKeys"
import { PgClient } from "./PgClient"

const KEY_COLUMNS = "tenant_id, key_id, scope, salt, hash, created_at, created_by, revoked_at, revoked_by"

const LOG = `INSERT INTO admin_actions (tenant_id, at, actor, action, target, details)
  SELECT $1, $2::timestamptz, $3, $4, $5, $6::jsonb`

const INSERT = `
WITH key AS (
  INSERT INTO api_keys (tenant_id, key_id, scope, salt, hash, created_at, created_by)
  VALUES ($1, $7, $8, $9, $10, $2::timestamptz, $3)
)
${LOG}`

const REVOKE = `
WITH revoked AS (
  UPDATE api_keys SET revoked_at = $2::timestamptz, revoked_by = $3
  WHERE tenant_id = $1 AND key_id = $5 AND revoked_at IS NULL
  RETURNING key_id
)
${LOG} FROM revoked
RETURNING 1`

interface KeyRow extends Omit<StoredKey, "created_at" | "revoked_at"> {
  readonly created_at: Date
  readonly revoked_at: Date | null
}

const keyOf = (row: KeyRow): StoredKey => ({
  ...row,
  scope: row.scope as KeyScope,
  created_at: row.created_at.toISOString(),
  revoked_at: row.revoked_at === null ? null : row.revoked_at.toISOString()
})

const actionParams = (a: AdminAction) => [
  a.tenant_id,
  a.at,
  a.actor,
  a.action,
  a.target,
  JSON.stringify(a.details)
]

export const make = Effect.map(PgClient, (pg) => {
  const sql = <R extends object>(operation: string, text: string, params: ReadonlyArray<unknown>) =>
    Effect.mapError(
      pg.query<R & Record<string, unknown>>(text, params),
      (error) => new ApiKeyError({ operation, cause: error.cause })
    )
  return apiKeysOver({
    insert: (key, action) =>
      Effect.asVoid(
        sql("insert", INSERT, [...actionParams(action), key.key_id, key.scope, key.salt, key.hash])
      ),
    find: (tenantId, keyId) =>
      Effect.map(
        sql<KeyRow>("find", `SELECT ${KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND key_id = $2`, [
          tenantId,
          keyId
        ]),
        (result) => (result.rows[0] === undefined ? null : keyOf(result.rows[0]))
      ),
    list: (tenantId) =>
      Effect.map(
        sql<KeyRow>(
          "list",
          `SELECT ${KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, key_id COLLATE "C"`,
          [tenantId]
        ),
        (result) => result.rows.map(keyOf)
      ),
    revoke: (tenantId, keyId, by, at, action) =>
      Effect.map(
        sql("revoke", REVOKE, [
          tenantId,
          at.toISOString(),
          by,
          action.action,
          keyId,
          JSON.stringify(action.details)
        ]),
        (result) => result.rowCount === 1
      ),
    append: (action) => Effect.asVoid(sql("append", LOG, actionParams(action))),
    actions: (tenantId) =>
      Effect.map(
        sql<{
          tenant_id: string
          at: Date
          actor: string
          action: string
          target: string
          details: Record<string, unknown>
        }>(
          "actions",
          "SELECT tenant_id, at, actor, action, target, details FROM admin_actions WHERE tenant_id = $1 ORDER BY seq",
          [tenantId]
        ),
        (result) => result.rows.map((row) => ({ ...row, at: row.at.toISOString() }))
      )
  })
})

export const layer: Layer.Layer<ApiKeys, never, PgClient> = Layer.effect(ApiKeys, make)
