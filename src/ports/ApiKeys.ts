/**
 * Port: tenants' API keys and the append-only log of admin actions (issue 14). A key belongs to
 * exactly one tenant, which `authenticate` answers from the key itself; only a hash of its secret
 * is kept. Adapters: in memory (MemoryApiKeys) and PostgreSQL (PgApiKeys: `api_keys` and
 * `admin_actions`, migration 0014), under one contract suite.
 */
import { Context, Data, Effect } from "effect"
import { hashSecret, type KeyScope, newKey, parseKey, secretMatches } from "../domain/apiKey"

export class ApiKeyError extends Data.TaggedError("ApiKeyError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

/** A key as listed: never its secret. */
export interface ApiKeyRecord {
  readonly tenant_id: string
  readonly key_id: string
  readonly scope: KeyScope
  readonly created_at: string
  readonly created_by: string
  readonly revoked_at: string | null
  readonly revoked_by: string | null
}

/** A key just made: the record and the token, which is shown this once. */
export interface IssuedKey extends ApiKeyRecord {
  readonly token: string
}

/** Who a request is: the key's tenant, the key and what it may do. */
export interface Principal {
  readonly tenant_id: string
  readonly key_id: string
  readonly scope: KeyScope
}

/** One entry of the admin log: who did what to what, and when. */
export interface AdminAction {
  readonly tenant_id: string
  readonly at: string
  readonly actor: string
  readonly action: string
  readonly target: string
  readonly details: Readonly<Record<string, unknown>>
}

export interface ApiKeysService {
  /** Makes a key of `scope` for the tenant, logged as `key.create` by `by`. */
  readonly create: (
    tenantId: string,
    scope: KeyScope,
    by: string,
    at: Date
  ) => Effect.Effect<IssuedKey, ApiKeyError>
  /** The tenant's keys, revoked ones included, oldest first. */
  readonly list: (tenantId: string) => Effect.Effect<ReadonlyArray<ApiKeyRecord>, ApiKeyError>
  /** Revokes a key (logged as `key.revoke`); false when the tenant has no such live key. */
  readonly revoke: (
    tenantId: string,
    keyId: string,
    by: string,
    at: Date
  ) => Effect.Effect<boolean, ApiKeyError>
  /** The principal of a live key, or null (unknown, malformed, wrong secret or revoked). */
  readonly authenticate: (token: string) => Effect.Effect<Principal | null, ApiKeyError>
  /** Appends to the admin log. */
  readonly logAction: (action: AdminAction) => Effect.Effect<void, ApiKeyError>
  /** The tenant's admin log, oldest first. */
  readonly actions: (tenantId: string) => Effect.Effect<ReadonlyArray<AdminAction>, ApiKeyError>
}

export class ApiKeys extends Context.Tag("turnvault/ApiKeys")<ApiKeys, ApiKeysService>() {}

/** A key as stored: the record with the salt and scrypt hash of its secret. */
export interface StoredKey extends ApiKeyRecord {
  readonly salt: string
  readonly hash: string
}

/** What an adapter stores; `apiKeysOver` adds the key format and hashing, the same for all. */
export interface ApiKeyStorage {
  /** Stores the key and its `key.create` action together. */
  readonly insert: (key: StoredKey, action: AdminAction) => Effect.Effect<void, ApiKeyError>
  readonly find: (tenantId: string, keyId: string) => Effect.Effect<StoredKey | null, ApiKeyError>
  readonly list: (tenantId: string) => Effect.Effect<ReadonlyArray<StoredKey>, ApiKeyError>
  /** Marks a live key revoked and logs `action` with it; false (and no log) when none was live. */
  readonly revoke: (
    tenantId: string,
    keyId: string,
    by: string,
    at: Date,
    action: AdminAction
  ) => Effect.Effect<boolean, ApiKeyError>
  readonly append: (action: AdminAction) => Effect.Effect<void, ApiKeyError>
  readonly actions: (tenantId: string) => Effect.Effect<ReadonlyArray<AdminAction>, ApiKeyError>
}

const recordOf = ({ salt: _salt, hash: _hash, ...record }: StoredKey): ApiKeyRecord => record

const hashing = (operation: string) => (cause: unknown) => new ApiKeyError({ operation, cause })

export const apiKeysOver = (storage: ApiKeyStorage): ApiKeysService => ({
  create: (tenantId, scope, by, at) =>
    Effect.gen(function* () {
      const key = newKey(tenantId)
      const { salt, hash } = yield* Effect.tryPromise({
        try: () => hashSecret(key.secret),
        catch: hashing("create")
      })
      const record: ApiKeyRecord = {
        tenant_id: tenantId,
        key_id: key.key_id,
        scope,
        created_at: at.toISOString(),
        created_by: by,
        revoked_at: null,
        revoked_by: null
      }
      yield* storage.insert(
        { ...record, salt, hash },
        {
          tenant_id: tenantId,
          at: at.toISOString(),
          actor: by,
          action: "key.create",
          target: key.key_id,
          details: { scope }
        }
      )
      return { ...record, token: key.token }
    }),
  list: (tenantId) => Effect.map(storage.list(tenantId), (keys) => keys.map(recordOf)),
  revoke: (tenantId, keyId, by, at) =>
    storage.revoke(tenantId, keyId, by, at, {
      tenant_id: tenantId,
      at: at.toISOString(),
      actor: by,
      action: "key.revoke",
      target: keyId,
      details: {}
    }),
  authenticate: (token) =>
    Effect.gen(function* () {
      const parsed = parseKey(token)
      if (parsed === null) return null
      const stored = yield* storage.find(parsed.tenant_id, parsed.key_id)
      if (stored === null || stored.revoked_at !== null) return null
      const matches = yield* Effect.tryPromise({
        try: () => secretMatches(parsed.secret, stored.salt, stored.hash),
        catch: hashing("authenticate")
      })
      return matches ? { tenant_id: stored.tenant_id, key_id: stored.key_id, scope: stored.scope } : null
    }),
  logAction: storage.append,
  actions: storage.actions
})
