/**
 * The data keys a process holds in memory (decision 0019): bounded (the oldest dropped first)
 * and brief (an entry is asked for again after its time to live), so an erasure reaches
 * every instance within that time. Asked once per batch for the customers it misses.
 */
import { Clock, Effect } from "effect"
import { type SecretKey, secretKey } from "../domain/envelope"
import {
  type CustomerKeysService,
  type CustomerRef,
  customerKeyOf,
  versionKeyOf
} from "../ports/CustomerKeys"

export interface SealingOptions {
  /** Keys kept in memory (live and by version, each), the oldest dropped first. */
  readonly cacheSize: number
  /**
   * How long a cached key is used before it is asked for again: how long another instance may
   * still open (or seal under) a key an erasure just destroyed.
   */
  readonly cacheTtlMs: number
}

export const DEFAULT_SEALING: SealingOptions = { cacheSize: 10_000, cacheTtlMs: 30_000 }

/** A bounded map whose entries expire `ttl` after they were put; the oldest put goes first. */
const boundedCache = <A>(options: SealingOptions) => {
  const entries = new Map<string, { readonly value: A; readonly at: number }>()
  return {
    // no reordering on a hit (a delete and a set per look-up showed in the profile): the oldest
    // entries go first, and an entry lives its time to live at most anyway
    get: (key: string, now: number): A | undefined => {
      const entry = entries.get(key)
      if (entry === undefined) return undefined
      if (now - entry.at < options.cacheTtlMs) return entry.value
      entries.delete(key)
      return undefined
    },
    set: (key: string, value: A, now: number) => {
      entries.delete(key)
      entries.set(key, { value, at: now })
      while (entries.size > options.cacheSize) entries.delete(entries.keys().next().value!)
    }
  }
}

/** A live key as the cache hands it: its version and the key object the cipher takes. */
export interface CachedKey {
  readonly version: number
  readonly key: SecretKey
}

export const makeKeyCache = (keys: CustomerKeysService, options: SealingOptions) => {
  const live = boundedCache<CachedKey>(options)
  const byVersion = boundedCache<SecretKey>(options)
  const opened = boundedCache<unknown>({ ...options, cacheSize: options.cacheSize * 4 })
  return {
    /**
     * What a ciphertext opened to, remembered as briefly as the keys are (each sealed value's
     * ciphertext is its own: the IV is random), so the rows a customer's profile is loaded with
     * again and again are opened once.
     */
    recall: (ciphertext: string, now: number) => opened.get(ciphertext, now),
    remember: (ciphertext: string, value: unknown, now: number) => opened.set(ciphertext, value, now),
    /** Each customer's live key (made when it has none), by customerKeyOf. */
    live: (customers: ReadonlyArray<CustomerRef>) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const out = new Map<string, CachedKey>()
        const missing: Array<CustomerRef> = []
        for (const c of customers) {
          const id = customerKeyOf(c)
          if (out.has(id)) continue
          const key = live.get(id, now)
          if (key === undefined) missing.push(c)
          else out.set(id, key)
        }
        if (missing.length > 0)
          for (const [id, key] of yield* keys.live(missing)) {
            const cached = { version: key.version, key: secretKey(key.key) }
            live.set(id, cached, now)
            out.set(id, cached)
          }
        return out
      }),
    /** These versions' keys, by versionKeyOf; a destroyed one is absent (and not cached). */
    find: (wanted: ReadonlyArray<CustomerRef & { readonly version: number }>) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const missing = wanted.filter((w) => byVersion.get(versionKeyOf(w, w.version), now) === undefined)
        if (missing.length > 0)
          for (const [id, key] of yield* keys.find(missing)) byVersion.set(id, secretKey(key), now)
        const out = new Map<string, SecretKey>()
        for (const w of wanted) {
          const key = byVersion.get(versionKeyOf(w, w.version), now)
          if (key !== undefined) out.set(versionKeyOf(w, w.version), key)
        }
        return out
      })
  }
}
