/**
 * The background jobs on real servers: two instances with jobs enabled, each with its own
 * PostgreSQL pool and Redis connection, over one database. Each job runs once per schedule tick
 * (rows of job_runs against the instances' metrics), and an expired field leaves the active set,
 * the Redis cache (only its customer's entry) and the resident snapshot of the other instance.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer } from "effect"
import { RedisCacheConfig, withRedisCache } from "../../src/adapters/redis"
import { PgStoresWithReaderLive } from "../../src/adapters/postgres"
import { PgClient } from "../../src/adapters/postgres/PgClient"
import { type JobSchedulerConfig, runSchedules } from "../../src/jobs/JobScheduler"
import { Metrics } from "../../src/observability/Metrics"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { ActorRegistry, makeActorRegistry } from "../../src/sessions/ActorRegistry"
import { profileField } from "../contract/fixtures"
import { freshDatabase } from "../support/postgres"
import { redisServerProcess } from "../support/redis"

const EXPIRE_MS = 500
const ORPHANS_MS = 1_000

/** One instance: cached PostgreSQL stores on a pool of its own, its metrics, its actors. */
const instance = (dbUrl: string, redisUrl: string) =>
  Effect.gen(function* () {
    const stores = PgStoresWithReaderLive({ connectionString: dbUrl, max: 3 })
    const layer = withRedisCache({ ...RedisCacheConfig.defaults, url: redisUrl })(stores).pipe(
      Layer.provideMerge(Metrics.layerTest)
    )
    const context = yield* Layer.build(layer)
    const registry = yield* Effect.provide(
      makeActorRegistry({ idleTimeoutMs: 60_000, maxActors: 100, definitionsTtlMs: 60_000, maxHistory: 10 }),
      context
    )
    return Context.add(context, ActorRegistry, registry)
  })

type Instance = Effect.Effect.Success<ReturnType<typeof instance>>

const schedule = (name: string): JobSchedulerConfig => ({
  instance: name,
  intervalsMs: { expire: EXPIRE_MS, orphans: ORPHANS_MS }
})

const counter = (context: Instance, name: string, labels: Record<string, string>) =>
  Effect.promise(async () => {
    const metric = await Context.get(context, Metrics).registry.getSingleMetric(name)?.get()
    const match = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    return match?.value ?? 0
  })

const runs = (context: Instance, job: string, status: string) =>
  counter(context, "turnvault_job_runs_total", { job, status })

/** Sleeps (real time) until `phase` ms into the next ORPHANS_MS window, so no tick is mid-flight. */
const untilPhase = (phase: number) => Effect.sleep(ORPHANS_MS - (Date.now() % ORPHANS_MS) + phase)

const activeNames = (context: Instance, tenant: string, customer: string) =>
  Effect.provide(
    Effect.flatMap(ProfileStore, (store) => store.loadCustomer(tenant, customer, 10)),
    context
  ).pipe(Effect.map((profile) => profile.active.map((row) => row.name).sort()))

describe("background jobs on two instances over one PostgreSQL", () => {
  it.scopedLive(
    "each job runs once per tick; an expired field leaves the active set, the cache and the other instance's snapshot",
    () =>
      Effect.gen(function* () {
        const db = yield* Effect.acquireRelease(
          Effect.promise(() => freshDatabase()),
          (db) => Effect.promise(() => db.drop())
        )
        const redis = yield* Effect.acquireRelease(
          Effect.promise(() => redisServerProcess()),
          (server) => Effect.promise(() => server.stop())
        )
        const a = yield* instance(db.url, redis.url)
        const b = yield* instance(db.url, redis.url)
        const t = `t-jobs-${Math.random().toString(36).slice(2, 8)}`
        const at = new Date().toISOString()
        const expiresAt = new Date(Date.now() + 1_500).toISOString()
        yield* Effect.provide(
          Effect.flatMap(ProfileStore, (store) =>
            store.writeFields([
              profileField({
                tenant: t,
                customer: "c-exp",
                name: "otp",
                value: "1",
                at,
                turn: "t1",
                expiresAt
              }),
              profileField({ tenant: t, customer: "c-exp", name: "name", value: "Ada", at, turn: "t1" }),
              profileField({ tenant: t, customer: "c-other", name: "plan", value: "pro", at, turn: "t1" })
            ])
          ),
          a
        )
        // b reads both customers through its cache (the second read of each is a hit) and holds
        // c-exp's actor
        for (const customer of ["c-exp", "c-other", "c-exp", "c-other"]) yield* activeNames(b, t, customer)
        const hits = () => counter(b, "turnvault_cache_requests_total", { cache: "profile", result: "hit" })
        expect(yield* hits()).toBe(2)
        expect(yield* activeNames(b, t, "c-exp")).toEqual(["name", "otp"])
        const registryB = Context.get(b, ActorRegistry)
        const ref = { tenant_id: t, session_id: "s1", customer_id: "c-exp", agent_id: "a1" }
        yield* Effect.provide(registryB.activate([ref], Date.now()), b)
        const snapshot = (yield* Effect.provide(registryB.get(ref, Date.now()), b)).customer
        expect([...snapshot.profile.keys()].sort()).toEqual(["name", "otp"])

        yield* untilPhase(250)
        const fibers = yield* Effect.all(
          [
            Effect.fork(Effect.provide(runSchedules(schedule("instance-a")), a)),
            Effect.fork(Effect.provide(runSchedules(schedule("instance-b")), b))
          ],
          { concurrency: "unbounded" }
        )
        yield* untilPhase(2_250)
        yield* Fiber.interruptAll(fibers)

        // once per tick: as many rows as the instances ran, and the other instance skipped each
        const pg = Context.get(a, PgClient)
        for (const job of ["expire", "orphans"]) {
          const rows = (yield* pg.query<{ tick: string; instance: string; status: string }>(
            "SELECT tick, instance, status FROM job_runs WHERE job = $1 ORDER BY tick",
            [job]
          )).rows
          const ticks = rows.map((row) => Number(row.tick))
          expect(ticks.length, job).toBeGreaterThanOrEqual(job === "expire" ? 5 : 2)
          expect(ticks, job).toEqual(ticks.map((_, i) => ticks[0]! + i))
          expect(
            rows.every((row) => row.status === "ok"),
            job
          ).toBe(true)
          const ok = (yield* runs(a, job, "ok")) + (yield* runs(b, job, "ok"))
          const skipped = (yield* runs(a, job, "skipped")) + (yield* runs(b, job, "skipped"))
          expect(ok, job).toBe(rows.length)
          expect(skipped, job).toBe(rows.length)
          expect((yield* runs(a, job, "failed")) + (yield* runs(b, job, "failed")), job).toBe(0)
        }
        const expired = (yield* pg.query<{ items: string }>(
          "SELECT sum(items_changed) AS items FROM job_runs WHERE job = 'expire'"
        )).rows[0]?.items
        expect(Number(expired)).toBe(1)

        // the field left the active set, b's cached entry of c-exp and b's resident snapshot ...
        const hitsBefore = yield* hits()
        expect(yield* activeNames(b, t, "c-exp")).toEqual(["name"])
        expect(yield* hits()).toBe(hitsBefore)
        expect([...snapshot.profile.keys()]).toEqual(["name"])
        // ... while c-other's entry, which no job changed, is still served from the cache
        expect(yield* activeNames(b, t, "c-other")).toEqual(["plan"])
        expect(yield* hits()).toBe(hitsBefore + 1)
      }),
    30_000
  )
})
