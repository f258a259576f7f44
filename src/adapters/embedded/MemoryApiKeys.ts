/** ApiKeys in memory (embedded mode): maps of keys and the admin log, gone with the process. */
import { Effect, Layer } from "effect"
import { type AdminAction, ApiKeys, apiKeysOver, type StoredKey } from "../../ports/ApiKeys"

export const make = Effect.sync(() => {
  const keys = new Map<string, StoredKey>()
  const log: Array<AdminAction> = []
  const keyOf = (tenantId: string, keyId: string) => JSON.stringify([tenantId, keyId])
  return apiKeysOver({
    insert: (key, action) =>
      Effect.sync(() => {
        keys.set(keyOf(key.tenant_id, key.key_id), key)
        log.push(action)
      }),
    find: (tenantId, keyId) => Effect.sync(() => keys.get(keyOf(tenantId, keyId)) ?? null),
    list: (tenantId) => Effect.sync(() => [...keys.values()].filter((key) => key.tenant_id === tenantId)),
    revoke: (tenantId, keyId, by, at, action) =>
      Effect.sync(() => {
        const key = keys.get(keyOf(tenantId, keyId))
        if (key === undefined || key.revoked_at !== null) return false
        keys.set(keyOf(tenantId, keyId), { ...key, revoked_at: at.toISOString(), revoked_by: by })
        log.push(action)
        return true
      }),
    append: (action) => Effect.sync(() => void log.push(action)),
    actions: (tenantId) => Effect.sync(() => log.filter((action) => action.tenant_id === tenantId))
  })
})

export const layer: Layer.Layer<ApiKeys> = Layer.effect(ApiKeys, make)
