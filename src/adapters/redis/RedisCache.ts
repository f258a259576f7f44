/**
 * The guard every cached store goes through (see internal/scripts.ts for the Redis side):
 * - `readThrough`: serve an entry only when it is provably current; on a miss load from the store
 *   (single-flight per entry version, at most `maxConcurrentLoads` store loads at once) and fill the
 *   entry only if no write began or ended since the version was read. Redis failures fall back to
 *   the store and are counted; they never fail the read.
 * - `readThroughMany`: the same for many entries in three round trips at most (one pipeline of
 *   reads, one store load of every miss, one pipeline of fills); misses are not single-flighted
 *   (the stream's owner loads each entry once per batch).
 * - `guardedWrite`: mark the keys pending and invalidate before the write, and again after its
 *   commit. Inside a cached UnitOfWork the "after" step waits for the unit's COMMIT (`unitOfWork`).
 */
import { Cause, Clock, Context, Deferred, Effect, Exit, FiberId, FiberRef, Layer } from "effect"
import type { UnitOfWorkService } from "../../ports/UnitOfWork"
import { Metrics } from "../../observability/Metrics"
import { type CacheMetrics, makeCacheMetrics } from "./CacheMetrics"
import { type CacheName, type EntryKeys, entryKeys, namespaceKeys, wholeNamespace } from "./internal/keys"
import { RedisConnection, type RedisConnectionService, type ScriptCallSpec } from "./RedisConnection"

/** Runs when the enclosing unit of work ended: `committed` only if it committed. */
type Finish = (committed: boolean) => Effect.Effect<void>

export interface ReadThrough<A, E> {
  readonly keys: EntryKeys
  /** Hash field holding this variant of the entry (e.g. one per history limit). */
  readonly field: string
  /** The cached value, or undefined when it is unreadable (then it counts as a miss). */
  readonly decode: (text: string) => A | undefined
  /** Hash fields to store, or null to not cache this value. */
  readonly encode: (value: A) => ReadonlyArray<readonly [string, string]> | null
  readonly load: Effect.Effect<A, E>
}

/** One entry of `readThroughMany`: `ReadThrough` without its load (the caller loads the misses at once). */
export type ReadThroughEntry<A> = Omit<ReadThrough<A, never>, "load">

const uniqueByEntry = (targets: ReadonlyArray<EntryKeys>) => [
  ...new Map(targets.map((t) => [t.entry, t])).values()
]

export const make = Effect.gen(function* () {
  const conn = yield* RedisConnection
  const metrics: CacheMetrics = makeCacheMetrics(yield* Metrics)
  const { config } = conn
  const prefix = config.keyPrefix
  const loads = yield* Effect.makeSemaphore(Math.max(1, config.maxConcurrentLoads))
  const flights = new Map<string, Deferred.Deferred<unknown, unknown>>()
  const collector = yield* FiberRef.make<Array<Finish> | null>(null)

  const entryTtl = () => Math.round(config.ttlMs * (1 + Math.random() * config.ttlJitter))
  // A version counter outlives every entry that could carry its value (see internal/keys.ts).
  const verTtl = String(Math.ceil(config.ttlMs * (1 + config.ttlJitter)) * 2 + config.pendingTtlMs)

  /** One store load at a time per (entry, field, version); a failed or interrupted leader is not shared. */
  const singleFlight = <A, E>(key: string, load: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      const running = flights.get(key) as Deferred.Deferred<A, E> | undefined
      if (running !== undefined)
        return Deferred.await(running).pipe(
          Effect.catchAllCause((cause) => (Cause.isInterruptedOnly(cause) ? load : Effect.failCause(cause)))
        )
      const deferred = Deferred.unsafeMake<A, E>(FiberId.none)
      flights.set(key, deferred as Deferred.Deferred<unknown, unknown>)
      return load.pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => flights.delete(key)).pipe(Effect.zipRight(Deferred.done(deferred, exit)))
        )
      )
    })

  const fill = (
    keys: EntryKeys,
    token: { ver: string; epoch: string; trust: number },
    fields: ReadonlyArray<readonly [string, string]>
  ) => {
    if (!conn.stillTrusted(token.trust)) return Effect.void
    const ns = namespaceKeys(prefix, keys.cache)
    return conn
      .script(
        "tvFill",
        [keys.entry, keys.ver, keys.pend, ns.epoch, ns.pendAll],
        [token.ver, token.epoch, String(entryTtl()), ...fields.flat()]
      )
      .pipe(
        Effect.match({
          onFailure: () => metrics.write(keys.cache, "fill", false),
          onSuccess: (written) => metrics.write(keys.cache, written === 1 ? "fill" : "fill_refused", true)
        })
      )
  }

  const readThrough = <A, E>(options: ReadThrough<A, E>): Effect.Effect<A, E> =>
    Effect.gen(function* () {
      const { keys } = options
      const cache = keys.cache
      const started = yield* Clock.currentTimeNanos
      const done = (source: "cache" | "store") =>
        Effect.map(Clock.currentTimeNanos, (now) =>
          metrics.loaded(cache, source, Number(now - started) / 1e9)
        )
      const fromStore = loads.withPermits(1)(options.load)
      const fallback = () => {
        metrics.request(cache, "fallback")
        return Effect.tap(fromStore, () => done("store"))
      }

      const trust = conn.trust()
      if (trust === null) return yield* fallback()
      const ns = namespaceKeys(prefix, cache)
      const read = yield* Effect.either(
        conn.script("tvRead", [keys.entry, keys.ver, keys.pend, ns.epoch, ns.pendAll], [options.field])
      )
      if (read._tag === "Left") {
        metrics.request(cache, "error")
        return yield* fallback()
      }
      const [status, ver, epoch, text] = read.right as [string, string, string, string | undefined]
      if (status === "hit" && text !== undefined) {
        const value = options.decode(text)
        // A reconnect while the command ran may have left stale entries in place: do not trust it.
        if (value !== undefined && conn.stillTrusted(trust)) {
          metrics.request(cache, "hit")
          yield* done("cache")
          return value
        }
      }
      metrics.request(cache, "miss")
      if (status === "busy") return yield* Effect.tap(fromStore, () => done("store"))
      const token = { ver, epoch, trust }
      const value = yield* singleFlight(
        `${keys.entry}\u0000${options.field}\u0000${ver}\u0000${epoch}`,
        Effect.tap(fromStore, (loaded) => {
          const fields = options.encode(loaded)
          return fields === null ? Effect.void : fill(keys, token, fields)
        })
      )
      yield* done("store")
      return value
    })

  /**
   * `readThrough` of many entries of one cache: one pipeline of reads, then `load` of every entry not
   * served (its indices into `entries`, in order; it answers one value per index), then one pipeline
   * of the fills that may still be written. Answers one value per entry, in order.
   */
  const readThroughMany = <A, E>(
    cache: CacheName,
    entries: ReadonlyArray<ReadThroughEntry<A>>,
    load: (indices: ReadonlyArray<number>) => Effect.Effect<ReadonlyArray<A>, E>
  ): Effect.Effect<ReadonlyArray<A>, E> =>
    Effect.gen(function* () {
      if (entries.length === 0) return []
      const started = yield* Clock.currentTimeNanos
      const observe = (source: "cache" | "store", count: number) =>
        Effect.map(Clock.currentTimeNanos, (now) => {
          const seconds = Number(now - started) / 1e9
          for (let i = 0; i < count; i++) metrics.loaded(cache, source, seconds)
        })
      const fromStore = (indices: ReadonlyArray<number>) =>
        Effect.tap(loads.withPermits(1)(load(indices)), () => observe("store", indices.length))
      const everything = entries.map((_, i) => i)
      const fallback = () => {
        metrics.request(cache, "fallback", entries.length)
        return fromStore(everything)
      }

      const trust = conn.trust()
      if (trust === null) return yield* fallback()
      const ns = namespaceKeys(prefix, cache)
      const readKeys = (keys: EntryKeys) => [keys.entry, keys.ver, keys.pend, ns.epoch, ns.pendAll]
      const replies = yield* Effect.either(
        conn.scripts(
          "tvRead",
          entries.map((e) => ({ script: "tvRead", keys: readKeys(e.keys), args: [e.field] }))
        )
      )
      if (replies._tag === "Left") {
        metrics.request(cache, "error", entries.length)
        return yield* fallback()
      }

      const values = new Array<A>(entries.length)
      const missing: Array<number> = []
      // Per miss, the versions its fill must still find (null: do not fill, a write is under way).
      const tokens: Array<{ ver: string; epoch: string } | null> = []
      const counts = { hit: 0, miss: 0, error: 0, fallback: 0 }
      for (const [i, reply] of replies.right.entries()) {
        if (reply._tag === "Left") {
          // as readThrough counts a failed read: an error, then a fallback to the store
          counts.error += 1
          counts.fallback += 1
          missing.push(i)
          tokens.push(null)
          continue
        }
        const [status, ver, epoch, text] = reply.right as [string, string, string, string | undefined]
        const value = status === "hit" && text !== undefined ? entries[i]!.decode(text) : undefined
        // A reconnect while the command ran may have left stale entries in place: do not trust it.
        if (value !== undefined && conn.stillTrusted(trust)) {
          counts.hit += 1
          values[i] = value
          continue
        }
        counts.miss += 1
        missing.push(i)
        tokens.push(status === "busy" ? null : { ver, epoch })
      }
      for (const result of ["hit", "miss", "error", "fallback"] as const)
        if (counts[result] > 0) metrics.request(cache, result, counts[result])
      if (counts.hit > 0) yield* observe("cache", counts.hit)
      if (missing.length === 0) return values

      const loaded = yield* fromStore(missing)
      const fills: Array<ScriptCallSpec> = []
      for (const [j, i] of missing.entries()) {
        values[i] = loaded[j]!
        const token = tokens[j]
        const fields = token === null ? null : entries[i]!.encode(loaded[j]!)
        if (token === null || token === undefined || fields === null) continue
        const { keys } = entries[i]!
        fills.push({
          script: "tvFill",
          keys: readKeys(keys),
          args: [token.ver, token.epoch, String(entryTtl()), ...fields.flat()]
        })
      }
      if (fills.length > 0 && conn.stillTrusted(trust)) {
        const filled = yield* Effect.either(conn.scripts("tvFill", fills))
        if (filled._tag === "Left") metrics.write(cache, "fill", false, fills.length)
        else {
          for (const reply of filled.right) {
            if (reply._tag === "Left") metrics.write(cache, "fill", false)
            else metrics.write(cache, reply.right === 1 ? "fill" : "fill_refused", true)
          }
        }
      }
      return values
    })

  const begin = (targets: ReadonlyArray<EntryKeys>): Effect.Effect<boolean> =>
    conn
      .script(
        "tvBegin",
        targets.flatMap((t) => [t.ver, t.pend, t.entry]),
        [String(config.pendingTtlMs), ...targets.map((t) => (t.verTtl ? verTtl : "0"))]
      )
      .pipe(
        Effect.as(true),
        Effect.catchAll(() => {
          for (const t of targets) metrics.write(t.cache, "invalidate", false)
          conn.distrust()
          return Effect.succeed(false)
        })
      )

  /** Releases the pending marks and invalidates again. Never fails; a failure distrusts the cache. */
  const end = (targets: ReadonlyArray<EntryKeys>, began: boolean): Effect.Effect<void> =>
    targets.length === 0
      ? Effect.void
      : conn
          .script(
            "tvEnd",
            targets.flatMap((t) => [t.ver, t.pend, t.entry]),
            targets.flatMap((t) => [began ? "1" : "0", t.verTtl ? verTtl : "0"])
          )
          .pipe(
            Effect.match({
              onFailure: () => {
                for (const t of targets) metrics.write(t.cache, "invalidate", false)
                conn.distrust()
              },
              onSuccess: () => {
                for (const t of targets) metrics.write(t.cache, "invalidate", true)
              }
            }),
            Effect.uninterruptible
          )

  /**
   * Runs a store write between `begin` and `end` of its keys. `onCommitted` replaces the default
   * `end` once the write is known to be committed (e.g. to write the new value through).
   */
  const guardedWrite = <A, E, R>(
    targetList: ReadonlyArray<EntryKeys>,
    write: Effect.Effect<A, E, R>,
    onCommitted?: (value: A, began: boolean) => Effect.Effect<void>
  ): Effect.Effect<A, E, R> =>
    Effect.gen(function* () {
      const targets = uniqueByEntry(targetList)
      if (targets.length === 0) return yield* write
      const began = yield* begin(targets)
      const unit = yield* FiberRef.get(collector)
      return yield* write.pipe(
        Effect.onExit((exit) => {
          const finish: Finish = (committed) =>
            committed && Exit.isSuccess(exit) && onCommitted !== undefined
              ? onCommitted(exit.value, began)
              : end(targets, began)
          if (unit === null) return finish(true)
          unit.push(finish)
          return Effect.void
        })
      )
    })

  /** Defers the "after" step of every guarded write inside `run` until the unit has committed. */
  const unitOfWork = (uow: UnitOfWorkService): UnitOfWorkService => ({
    atomic: uow.atomic,
    run: (effect) =>
      Effect.flatMap(FiberRef.get(collector), (outer) => {
        if (outer !== null) return uow.run(effect)
        const finishes: Array<Finish> = []
        return uow.run(Effect.locally(effect, collector, finishes)).pipe(
          Effect.onExit((exit) =>
            Effect.forEach(finishes, (finish) => finish(Exit.isSuccess(exit)), {
              concurrency: 8,
              discard: true
            })
          )
        )
      })
  })

  return {
    connection: conn as RedisConnectionService,
    metrics,
    keys: (cache: CacheName, tenantId: string, id: string) => entryKeys(prefix, cache, tenantId, id),
    wholeNamespace: (cache: CacheName) => wholeNamespace(prefix, cache),
    entryTtl,
    verTtl,
    readThrough,
    readThroughMany,
    guardedWrite,
    end,
    unitOfWork
  }
})

export class RedisCache extends Context.Tag("turnvault/RedisCache")<
  RedisCache,
  Effect.Effect.Success<typeof make>
>() {
  static readonly layer: Layer.Layer<RedisCache, never, RedisConnection | Metrics> = Layer.scoped(
    RedisCache,
    make
  )
}
