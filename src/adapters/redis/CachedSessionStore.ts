/**
 * SessionStore decorator: hot session snapshots (`session:{tenant}:{session}`). After a save commits,
 * the saved record is written through (a compare-and-set that never replaces a newer state version
 * and never writes while another save of the session is pending), so that an instance taking over a
 * partition activates the session without a database round trip. A load serves the snapshot only
 * when it is provably current (RedisCache.readThrough); otherwise it reads PostgreSQL.
 */
import { Effect } from "effect"
import type { SessionRecord } from "../../domain/model"
import { SessionStore, type SessionStoreService } from "../../ports/SessionStore"
import { namespaceKeys } from "./internal/keys"
import { RedisCache } from "./RedisCache"

const decodeRecord =
  (tenantId: string, sessionId: string) =>
  (text: string): SessionRecord | undefined => {
    try {
      const record = JSON.parse(text) as SessionRecord
      return record?.state?.tenant_id === tenantId &&
        record.state.session_id === sessionId &&
        typeof record.content_hash === "string"
        ? record
        : undefined
    } catch {
      return undefined
    }
  }

const idOf = (tenantId: string, sessionId: string) => `${tenantId}\u0000${sessionId}`

export const make = Effect.gen(function* () {
  const store = yield* SessionStore
  const cache = yield* RedisCache
  const conn = cache.connection
  const epoch = namespaceKeys(conn.config.keyPrefix, "session").epoch
  const keysOf = (record: SessionRecord) =>
    cache.keys("session", record.state.tenant_id, record.state.session_id)

  /** The "after commit" step: write each session's committed snapshot (its last record) through. */
  const committed = (records: ReadonlyArray<SessionRecord>, began: boolean) => {
    const latest = new Map<string, SessionRecord>()
    for (const record of records) latest.set(idOf(record.state.tenant_id, record.state.session_id), record)
    const written = [...latest.values()]
    if (written.length === 0) return Effect.void
    const keys = written.flatMap((record) => {
      const k = keysOf(record)
      return [k.ver, k.pend, k.entry, epoch]
    })
    const args = written.flatMap((record) => [
      began ? "1" : "0",
      cache.verTtl,
      String(cache.entryTtl()),
      String(record.state.version),
      JSON.stringify(record)
    ])
    return conn.script("tvEndWriteSnapshot", keys, args).pipe(
      Effect.match({
        onFailure: () => {
          cache.metrics.write("session", "snapshot", false)
          conn.distrust()
        },
        onSuccess: () => cache.metrics.write("session", "snapshot", true)
      }),
      Effect.uninterruptible
    )
  }

  const encode = (record: SessionRecord | null): ReadonlyArray<readonly [string, string]> | null =>
    record === null
      ? null
      : [
          ["rec", JSON.stringify(record)],
          ["sv", String(record.state.version)]
        ]

  const load: SessionStoreService["load"] = (tenantId, sessionId) =>
    cache.readThrough({
      keys: cache.keys("session", tenantId, sessionId),
      field: "rec",
      decode: decodeRecord(tenantId, sessionId),
      encode,
      load: store.load(tenantId, sessionId)
    })

  const loadMany: SessionStoreService["loadMany"] = (ids) =>
    cache.readThroughMany(
      "session",
      ids.map((id) => ({
        keys: cache.keys("session", id.tenant_id, id.session_id),
        field: "rec",
        decode: decodeRecord(id.tenant_id, id.session_id),
        encode
      })),
      (indices) => store.loadMany(indices.map((i) => ids[i]!))
    )

  const save: SessionStoreService["save"] = (records) =>
    cache.guardedWrite(records.map(keysOf), store.save(records), (_, began) => committed(records, began))

  return SessionStore.of({ ...store, load, loadMany, save })
})
