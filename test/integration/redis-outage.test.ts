/**
 * A Redis outage in the middle of a stream (DESIGN 5): the real pipeline over cached PostgreSQL
 * stores, with the test's own redis-server stopped after the first ~250 turns and started again
 * (empty) ~300 turns later. No turn may fail, nothing may be lost, and every exported store must
 * equal a clean run without Redis.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { RedisCacheConfig, withRedisCache } from "../../src/adapters/redis"
import { redisServerProcess } from "../support/redis"
import { PgStoresLive } from "../../src/adapters/postgres"
import { SessionStore } from "../../src/ports/SessionStore"
import { syntheticDefinitions } from "../../src/dev/definitions"
import { defaultTrafficOptions, makeSyntheticTraffic } from "../../src/dev/SyntheticTraffic"
import { makeMetrics, Metrics } from "../../src/observability/Metrics"
import { runProcess } from "../support/pipeline"
import { freshDatabase } from "../support/postgres"

const database = Effect.acquireRelease(
  Effect.promise(() => freshDatabase()),
  (db) => Effect.promise(() => db.drop())
)

const counter = (metrics: ReturnType<typeof makeMetrics>, cache: string, result: string) =>
  Effect.promise(async () => {
    const metric = await metrics.cacheRequests.get()
    return metric.values.find((v) => v.labels.cache === cache && v.labels.result === result)?.value ?? 0
  })

describe("redis outage", () => {
  it.scopedLive(
    "Redis stopped mid-stream and started again: no turn fails, nothing is lost, stores equal a clean run",
    () =>
      Effect.gen(function* () {
        const traffic = makeSyntheticTraffic({
          ...defaultTrafficOptions,
          concurrentSessions: 30,
          customersPerTenant: 20
        })
        const lines = Array.from({ length: 900 }, () => traffic.next().value)
        const defs = syntheticDefinitions(traffic.tenants, traffic.agents)
        // Definitions re-read on every event: the cache is read all the time, outage included.
        const overrides = { TURNVAULT_DEFINITIONS_TTL_MS: "0" }

        const cleanDb = yield* database
        const clean = yield* runProcess(
          defs,
          lines,
          overrides,
          PgStoresLive({ connectionString: cleanDb.url, max: 4 })
        )

        const db = yield* database
        const redis = yield* Effect.acquireRelease(
          Effect.promise(() => redisServerProcess()),
          (server) => Effect.promise(() => server.stop())
        )
        const metrics = makeMetrics({ processMetrics: false })
        const cached = withRedisCache({ ...RedisCacheConfig.defaults, url: redis.url })(
          PgStoresLive({ connectionString: db.url, max: 4 })
        ).pipe(Layer.provide(Layer.succeed(Metrics, metrics)))

        // Saves are counted above the cache: the outage starts and ends between two turns' writes.
        let saves = 0
        const marks = { hitsBeforeStop: 0, fallbacksBeforeStop: 0, hitsAtRestart: 0, fallbacksAtRestart: 0 }
        const toggling = Layer.effect(
          SessionStore,
          Effect.map(SessionStore, (store) => ({
            ...store,
            save: (records: Parameters<typeof store.save>[0]) =>
              Effect.gen(function* () {
                saves += 1
                if (saves === 250) {
                  marks.hitsBeforeStop = yield* counter(metrics, "definitions", "hit")
                  marks.fallbacksBeforeStop = yield* counter(metrics, "definitions", "fallback")
                  yield* Effect.promise(() => redis.stop())
                }
                if (saves === 550) {
                  marks.hitsAtRestart = yield* counter(metrics, "definitions", "hit")
                  marks.fallbacksAtRestart = yield* counter(metrics, "definitions", "fallback")
                  yield* Effect.promise(() => redis.start())
                }
                return yield* store.save(records)
              })
          }))
        ).pipe(Layer.provideMerge(cached))

        const out = yield* runProcess(defs, lines, overrides, toggling)

        expect(saves).toBeGreaterThan(700)
        expect(out.records.length).toBe(clean.records.length)
        expect(out.records.length).toBeGreaterThan(700)
        expect(out.sessions).toEqual(clean.sessions)
        expect(out.profile).toEqual(clean.profile)
        expect(out.records).toEqual(clean.records)
        expect(out.dlq).toEqual(clean.dlq)

        // The cache served before the outage, fell back during it, and served again after it.
        expect(marks.hitsBeforeStop).toBeGreaterThan(100)
        expect(marks.fallbacksBeforeStop).toBe(0)
        expect(marks.fallbacksAtRestart - marks.fallbacksBeforeStop).toBeGreaterThan(100)
        expect(marks.hitsAtRestart - marks.hitsBeforeStop).toBe(0)
        expect(yield* counter(metrics, "definitions", "hit")).toBeGreaterThan(marks.hitsAtRestart + 100)
        // Every profile is written by the sessions that load it: loads go through the cache and miss.
        expect(yield* counter(metrics, "profile", "miss")).toBeGreaterThan(0)
      }),
    120_000
  )
})
