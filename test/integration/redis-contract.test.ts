/**
 * The Redis cache against real servers: the store contract over cached PostgreSQL (and cached
 * memory) stores, then the cache's own guarantees — read-through, no stale value put back by a racing
 * reader, invalidation only after COMMIT, fallback and recovery, two instances never reading stale,
 * hot session snapshots and definitions hot reload over pub/sub.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, type Scope } from "effect"
import type { FieldDefinition } from "../../schemas"
import { ActorRegistry, makeActorRegistry } from "../../src/sessions/ActorRegistry"
import { RedisCacheConfig, withRedisCache } from "../../src/adapters/redis"
import { DefinitionsChanges } from "../../src/ports/DefinitionsChanges"
import { DefinitionsHotReload } from "../../src/sessions/DefinitionsHotReload"
import { ItemsForget } from "../../src/sessions/ItemsForget"
import { ItemChanges } from "../../src/ports/ItemChanges"
import { deleteItem } from "../../src/app/commands/items"
import { redisServerProcess } from "../support/redis"
import { memoryStoresWith } from "../../src/adapters/embedded"
import { PgStoresLive } from "../../src/adapters/postgres"
import { ProfileStore, type ProfileStoreService } from "../../src/ports/ProfileStore"
import { SessionStore } from "../../src/ports/SessionStore"
import { UnitOfWork } from "../../src/ports/UnitOfWork"
import { Metrics } from "../../src/observability/Metrics"
import { profileField, sessionRecord, sessionState } from "../contract/fixtures"
import { storeContract, TEST_KEK, tenantFactory } from "../contract/stores.contract"
import { freshDatabase } from "../support/postgres"

const database = Effect.acquireRelease(
  Effect.promise(() => freshDatabase()),
  (db) => Effect.promise(() => db.drop())
)
const redisServer = Effect.acquireRelease(
  Effect.promise(() => redisServerProcess()),
  (server) => Effect.promise(() => server.stop())
)
const cacheConfig = (url: string) => ({ ...RedisCacheConfig.defaults, url })

storeContract("postgres + redis", () =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const db = yield* database
      const redis = yield* redisServer
      return withRedisCache(cacheConfig(redis.url))(
        PgStoresLive({ connectionString: db.url, max: 4 }, TEST_KEK)
      ).pipe(Layer.provide(Metrics.layerTest))
    })
  )
)

storeContract("memory + redis", () =>
  Layer.unwrapScoped(
    Effect.map(redisServer, (redis) =>
      withRedisCache(cacheConfig(redis.url))(memoryStoresWith(TEST_KEK)).pipe(
        Layer.provide(Metrics.layerTest)
      )
    )
  )
)

/** One turnvault instance's stores: cached PostgreSQL over a shared database and Redis. */
const instance = (
  dbUrl: string,
  redisUrl: string,
  wrap: (store: ProfileStoreService) => ProfileStoreService = (s) => s
) =>
  Effect.gen(function* () {
    const pg = PgStoresLive({ connectionString: dbUrl, max: 4 })
    const base = Layer.effect(ProfileStore, Effect.map(ProfileStore, wrap)).pipe(Layer.provideMerge(pg))
    const layer = withRedisCache(cacheConfig(redisUrl))(base).pipe(Layer.provideMerge(Metrics.layerTest))
    return yield* Layer.build(layer)
  })

type Instance = Effect.Effect.Success<ReturnType<typeof instance>>

const on =
  (context: Instance) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.provide(effect, context)

const requests = (context: Instance, cache: string, result: string) =>
  Effect.promise(async () => {
    const metric = await Context.get(context, Metrics).cacheRequests.get()
    return metric.values.find((v) => v.labels.cache === cache && v.labels.result === result)?.value ?? 0
  })

const email = (tenant: string, n: number, customer = "cust-1") =>
  profileField({
    tenant,
    customer,
    name: "email",
    value: `v${n}`,
    at: new Date(Date.UTC(2024, 0, 1) + n * 1000).toISOString(),
    turn: `t${n}`
  })

const activeEmail = (tenant: string, customer = "cust-1") =>
  Effect.flatMap(ProfileStore, (store) => store.loadCustomer(tenant, customer, 10)).pipe(
    Effect.map((profile) => profile.active.find((row) => row.name === "email")?.value)
  )

const withServers = <A, E>(
  use: (
    db: string,
    redis: { url: string; stop: () => Promise<void>; start: () => Promise<void> }
  ) => Effect.Effect<A, E, Scope.Scope>
) =>
  Effect.gen(function* () {
    const db = yield* database
    const redis = yield* redisServer
    return yield* use(db.url, redis)
  })

describe("redis cache", () => {
  const tenant = tenantFactory()

  it.scopedLive("serves a loaded profile from Redis until a committed write invalidates it", () =>
    withServers((db, redis) =>
      Effect.gen(function* () {
        const a = yield* instance(db, redis.url)
        const t = tenant("read-through")
        yield* on(a)(Effect.flatMap(ProfileStore, (s) => s.writeFields([email(t, 1)])))
        expect(yield* on(a)(activeEmail(t))).toBe("v1")
        expect(yield* on(a)(activeEmail(t))).toBe("v1")
        expect(yield* requests(a, "profile", "hit")).toBe(1)
        yield* on(a)(Effect.flatMap(ProfileStore, (s) => s.writeFields([email(t, 2)])))
        expect(yield* on(a)(activeEmail(t))).toBe("v2")
        expect(yield* requests(a, "profile", "miss")).toBe(2)
      })
    )
  )

  it.scopedLive("a reader that loaded before a commit cannot put the older value back", () =>
    withServers((db, redis) =>
      Effect.gen(function* () {
        const loaded = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        let gate = true
        // The slow reader: its database read happens, then it waits before filling the cache.
        const slow = (store: ProfileStoreService): ProfileStoreService => ({
          ...store,
          loadCustomer: (t, c, h) =>
            Effect.tap(store.loadCustomer(t, c, h), () =>
              gate
                ? Deferred.succeed(loaded, undefined).pipe(Effect.zipRight(Deferred.await(release)))
                : Effect.void
            )
        })
        const a = yield* instance(db, redis.url, slow)
        const b = yield* instance(db, redis.url)
        const t = tenant("racing-reader")
        yield* on(b)(Effect.flatMap(ProfileStore, (s) => s.writeFields([email(t, 1)])))
        const reader = yield* Effect.fork(on(a)(activeEmail(t)))
        yield* Deferred.await(loaded)
        yield* on(b)(Effect.flatMap(ProfileStore, (s) => s.writeFields([email(t, 2)])))
        yield* Deferred.succeed(release, undefined)
        // It began before the write committed, so the older value is a correct answer for it...
        expect(yield* Fiber.join(reader)).toBe("v1")
        gate = false
        // ...but it was not cached: both instances now read the committed value.
        expect(yield* on(a)(activeEmail(t))).toBe("v2")
        expect(yield* on(b)(activeEmail(t))).toBe("v2")
      })
    )
  )

  it.scopedLive("inside a unit of work the cache is invalidated after COMMIT, never before", () =>
    withServers((db, redis) =>
      Effect.gen(function* () {
        const a = yield* instance(db, redis.url)
        const b = yield* instance(db, redis.url)
        const t = tenant("after-commit")
        yield* on(a)(Effect.flatMap(ProfileStore, (s) => s.writeFields([email(t, 1)])))
        expect(yield* on(b)(activeEmail(t))).toBe("v1")
        const written = yield* Deferred.make<void>()
        const commit = yield* Deferred.make<void>()
        const unit = yield* Effect.fork(
          on(a)(
            Effect.gen(function* () {
              const uow = yield* UnitOfWork
              const store = yield* ProfileStore
              yield* uow.run(
                store
                  .writeFields([email(t, 2)])
                  .pipe(
                    Effect.zipRight(Deferred.succeed(written, undefined)),
                    Effect.zipRight(Deferred.await(commit))
                  )
              )
            })
          )
        )
        yield* Deferred.await(written)
        // Uncommitted: readers see v1 (from PostgreSQL: the write is pending) and cannot cache it.
        expect(yield* on(b)(activeEmail(t))).toBe("v1")
        expect(yield* on(b)(activeEmail(t))).toBe("v1")
        yield* Deferred.succeed(commit, undefined)
        yield* Fiber.join(unit)
        expect(yield* on(b)(activeEmail(t))).toBe("v2")
        expect(yield* on(b)(activeEmail(t))).toBe("v2")
        expect(yield* requests(b, "profile", "hit")).toBe(1)
      })
    )
  )

  it.scopedLive("many write-then-read pairs across two instances never read a stale profile", () =>
    withServers((db, redis) =>
      Effect.gen(function* () {
        const instances = [yield* instance(db, redis.url), yield* instance(db, redis.url)] as const
        const t = tenant("two-instances")
        const customers = ["c1", "c2", "c3"]
        let stop = false
        // Background readers on both instances keep filling the cache to race the writers' commits.
        const hammer = (context: Instance, customer: string) =>
          Effect.fork(
            Effect.whileLoop({
              while: () => !stop,
              body: () => on(context)(activeEmail(t, customer)),
              step: () => {}
            })
          )
        const readers = yield* Effect.forEach(
          customers.flatMap((c) => instances.map((i) => [i, c] as const)),
          ([i, c]) => hammer(i, c)
        )
        yield* Effect.forEach(
          customers,
          (customer) =>
            Effect.gen(function* () {
              for (let n = 1; n <= 100; n++) {
                const writer = instances[n % 2]!
                const reader = instances[(n + 1) % 2]!
                const inUnit = n % 3 === 0
                const write = Effect.flatMap(ProfileStore, (s) => s.writeFields([email(t, n, customer)]))
                yield* on(writer)(inUnit ? Effect.flatMap(UnitOfWork, (u) => u.run(write)) : write)
                expect(yield* on(reader)(activeEmail(t, customer))).toBe(`v${n}`)
                expect(yield* on(writer)(activeEmail(t, customer))).toBe(`v${n}`)
              }
            }),
          { concurrency: "unbounded", discard: true }
        )
        stop = true
        yield* Effect.forEach(readers, Fiber.join, { discard: true })
        const hits =
          (yield* requests(instances[0], "profile", "hit")) +
          (yield* requests(instances[1], "profile", "hit"))
        expect(hits).toBeGreaterThan(0)
      })
    )
  )

  it.scopedLive(
    "a saved session snapshot activates on another instance from Redis, and only if current",
    () =>
      withServers((db, redis) =>
        Effect.gen(function* () {
          const a = yield* instance(db, redis.url)
          const b = yield* instance(db, redis.url)
          const t = tenant("snapshots")
          for (let version = 1; version <= 20; version++) {
            const record = sessionRecord(sessionState(t, "s1", { version, turn_count: version }))
            const [writer, reader] = version % 2 === 0 ? [a, b] : [b, a]
            yield* on(writer)(
              Effect.flatMap(UnitOfWork, (u) => u.run(Effect.flatMap(SessionStore, (s) => s.save([record]))))
            )
            expect(yield* on(reader)(Effect.flatMap(SessionStore, (s) => s.load(t, "s1")))).toEqual(record)
          }
          // Every load was served by the snapshot written through after the commit.
          expect((yield* requests(a, "session", "hit")) + (yield* requests(b, "session", "hit"))).toBe(20)
          // A save outside a unit of work writes its snapshot through as well.
          const next = sessionRecord(sessionState(t, "s1", { version: 21, turn_count: 99 }))
          yield* on(a)(Effect.flatMap(SessionStore, (s) => s.save([next])))
          expect(yield* on(b)(Effect.flatMap(SessionStore, (s) => s.load(t, "s1")))).toEqual(next)
          expect(yield* requests(b, "session", "hit")).toBeGreaterThanOrEqual(11)
        })
      )
  )

  it.scopedLive("while Redis is down reads and writes use PostgreSQL; a restarted Redis is used again", () =>
    withServers((db, redis) =>
      Effect.gen(function* () {
        const a = yield* instance(db, redis.url)
        const t = tenant("outage")
        yield* on(a)(Effect.flatMap(ProfileStore, (s) => s.writeFields([email(t, 1)])))
        expect(yield* on(a)(activeEmail(t))).toBe("v1")
        yield* Effect.promise(() => redis.stop())
        const started = Date.now()
        yield* on(a)(Effect.flatMap(ProfileStore, (s) => s.writeFields([email(t, 2)])))
        expect(yield* on(a)(activeEmail(t))).toBe("v2")
        expect(Date.now() - started).toBeLessThan(1_000)
        expect(yield* requests(a, "profile", "fallback")).toBeGreaterThan(0)
        yield* Effect.promise(() => redis.start())
        // Reconnects on its own (capped backoff), then serves and fills again.
        let hits = 0
        for (let i = 0; i < 50 && hits < 2; i++) {
          expect(yield* on(a)(activeEmail(t))).toBe("v2")
          hits = yield* requests(a, "profile", "hit")
          yield* Effect.sleep("100 millis")
        }
        expect(hits).toBeGreaterThanOrEqual(2)
      })
    )
  )

  it.scopedLive("a definitions change reaches the other instance's actors without a restart", () =>
    withServers((db, redis) =>
      Effect.gen(function* () {
        const a = yield* instance(db, redis.url)
        const b = yield* instance(db, redis.url)
        const t = tenant("hot-reload")
        const def = (description: string): FieldDefinition => ({
          tenant_id: t,
          agent_id: "agent-1",
          name: "plan",
          value_type: "string",
          scope: "BUSINESS",
          persist: true,
          is_pii: false,
          description,
          version: 1
        })
        yield* on(b)(Effect.flatMap(ProfileStore, (s) => s.upsertDefinitions([def("first")])))
        // Instance B's actor registry, definitions cached in-process for an hour, hot reload wired.
        const registry = yield* Effect.provide(
          makeActorRegistry({
            idleTimeoutMs: 60_000,
            maxActors: 100,
            definitionsTtlMs: 3_600_000,
            maxHistory: 10
          }),
          b
        )
        const notified = yield* Deferred.make<void>()
        yield* Layer.build(DefinitionsHotReload).pipe(Effect.provide(Context.add(b, ActorRegistry, registry)))
        yield* on(b)(
          Effect.flatMap(DefinitionsChanges, (c) =>
            Effect.zipRight(
              c.subscribed,
              c.onChange(() => Deferred.succeed(notified, undefined))
            )
          )
        )
        const ref = { tenant_id: t, session_id: "s1", customer_id: "cust-1", agent_id: "agent-1" }
        const description = Effect.map(
          registry.get(ref, 0),
          (actor) => actor.definitions.get("plan")?.description
        )
        expect(yield* description).toBe("first")
        yield* on(a)(Effect.flatMap(ProfileStore, (s) => s.upsertDefinitions([def("second")])))
        yield* Deferred.await(notified).pipe(Effect.timeout("5 seconds"))
        expect(yield* description).toBe("second")

        // scenario requirements travel the same way, through the same cache entry
        const required = Effect.map(registry.get(ref, 0), (actor) =>
          (actor.requirements.get("refund") ?? []).map((r) => `${r.field_name}:${r.fallback_action}`)
        )
        expect(yield* required).toEqual([])
        const reloaded = yield* Deferred.make<void>()
        yield* on(b)(
          Effect.flatMap(DefinitionsChanges, (c) => c.onChange(() => Deferred.succeed(reloaded, undefined)))
        )
        const requirement = {
          tenant_id: t,
          agent_id: "agent-1",
          scenario_id: "refund",
          field_name: "plan",
          required_level: "required" as const,
          fallback_action: "block" as const,
          version: 1
        }
        yield* on(a)(Effect.flatMap(ProfileStore, (s) => s.upsertRequirements([requirement])))
        yield* Deferred.await(reloaded).pipe(Effect.timeout("5 seconds"))
        expect(yield* required).toEqual(["plan:block"])
        // and the cache serves the new list to a third reader
        expect(yield* on(b)(Effect.flatMap(ProfileStore, (s) => s.loadRequirements(t, "agent-1")))).toEqual([
          requirement
        ])
      })
    )
  )

  it.scoped("a deleted item leaves the resident snapshot of another instance at once", () =>
    withServers((db, redis) =>
      Effect.gen(function* () {
        const a = yield* instance(db, redis.url)
        const b = yield* instance(db, redis.url)
        const t = tenant("forget")
        const source = profileField({
          tenant: t,
          name: "raw",
          value: "x",
          at: "2024-05-01T10:00:00Z",
          turn: "t1"
        })
        const derived = profileField({
          tenant: t,
          name: "summary",
          value: "y",
          at: "2024-05-01T10:00:00Z",
          turn: "t2",
          derivedFrom: source.id
        })
        yield* on(a)(Effect.flatMap(ProfileStore, (s) => s.writeFields([source, derived])))
        // instance B's actor holds the customer; its ItemChanges is wired to its registry
        const registry = yield* Effect.provide(
          makeActorRegistry({
            idleTimeoutMs: 60_000,
            maxActors: 100,
            definitionsTtlMs: 60_000,
            maxHistory: 10
          }),
          b
        )
        yield* Layer.build(ItemsForget).pipe(Effect.provide(Context.add(b, ActorRegistry, registry)))
        const forgotten = yield* Deferred.make<ReadonlyArray<string>>()
        yield* on(b)(
          Effect.flatMap(ItemChanges, (c) =>
            Effect.zipRight(
              c.subscribed,
              c.onChange((items) =>
                Deferred.succeed(
                  forgotten,
                  items.map((item) => item.id)
                )
              )
            )
          )
        )
        const ref = { tenant_id: t, session_id: "s1", customer_id: "cust-1", agent_id: "agent-1" }
        const current = Effect.map(registry.get(ref, 0), (actor) => [...actor.customer.profile.keys()].sort())
        expect(yield* current).toEqual(["raw", "summary"])
        // `turnvault items delete --cascade` on instance A (a CLI process with the same stores)
        const deleted = yield* on(a)(deleteItem(t, source.id, { by: "ops", reason: "test", cascade: true }))
        expect(deleted.map((d) => [d.item_id, d.name])).toEqual([
          [source.id, "raw"],
          [derived.id, "summary"]
        ])
        expect(yield* Deferred.await(forgotten).pipe(Effect.timeout("5 seconds"))).toEqual([
          source.id,
          derived.id
        ])
        expect(yield* current).toEqual([])
      })
    )
  )
})
