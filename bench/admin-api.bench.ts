/**
 * Admin API latency: `GET /v1/customers/{id}/fields` at a fixed request rate, side by side with
 * the same read as direct SQL on the processor's pool (the baseline: no HTTP, no key check, no
 * tenant binding), with the tenant path alone (TenantReader, no HTTP), and through the API with
 * and without the Redis cache (a private redis-server). One run, one machine, real PostgreSQL.
 * Not a timed test.
 *
 *   npx tsx bench/admin-api.bench.ts
 *
 * Knobs (environment): BENCH_CUSTOMERS (2000), BENCH_FIELDS (10), BENCH_RATE (200 requests/s),
 * BENCH_SECONDS (15), BENCH_TENANTS (4: reads alternate between tenants, so connections rebind),
 * BENCH_WARMUP (3 s at the rate before each measured run, not counted).
 */
import { knob } from "./lib/measure"
import { Effect, Layer } from "effect"
import { performance } from "node:perf_hooks"
import { Worker } from "node:worker_threads"
import { PgStoresWithReaderLive } from "../src/adapters/postgres"
import { PgClient } from "../src/adapters/postgres/PgClient"
import { TenantReader } from "../src/adapters/postgres/TenantReader"
import { ApiKeys } from "../src/ports/ApiKeys"
import { ProfileStore } from "../src/ports/ProfileStore"
import { profileField } from "../test/contract/fixtures"
import { recordingItemChanges, serveAdminApi } from "../test/support/adminApi"
import { freshDatabase } from "../test/support/postgres"
import { redisServerProcess } from "../test/support/redis"
import { RedisCacheConfig, withRedisCache } from "../src/adapters/redis"
import { Metrics } from "../src/observability/Metrics"

const params = {
  customers: knob("BENCH_CUSTOMERS", 2_000),
  fields: knob("BENCH_FIELDS", 10),
  rate: knob("BENCH_RATE", 200),
  seconds: knob("BENCH_SECONDS", 15),
  tenants: knob("BENCH_TENANTS", 4),
  warmup: knob("BENCH_WARMUP", 3)
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

/** p50, p99 and max of latencies in ms. */
const summary = (latencies: Array<number>) => {
  const sorted = latencies.sort((a, b) => a - b)
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? 0 }
}

/**
 * Runs `request` at `rate` per second for `seconds`, open loop: each latency counts from when the
 * request was due, so a late send is not hidden. The first BENCH_WARMUP seconds at the same rate
 * warm up (connections, JIT, the cache) and are not counted.
 */
const atRate = async (request: (i: number) => Promise<void>) => {
  const latencies: Array<number> = []
  const total = params.rate * (params.seconds + params.warmup)
  const started = performance.now()
  const inFlight: Array<Promise<void>> = []
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / params.rate
    const wait = due - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    inFlight.push(
      request(i).then(
        () => void (i >= params.rate * params.warmup && latencies.push(performance.now() - due))
      )
    )
  }
  await Promise.all(inFlight)
  return summary(latencies)
}

/**
 * The HTTP load generator, in a worker thread of its own (JavaScript, run as is): clients of an
 * API are elsewhere, so its event loop is not the server's. Same open loop and warm-up as `atRate`.
 */
const HTTP_LOAD = `
const { workerData, parentPort } = require("node:worker_threads")
const { urls, tokens, rate, seconds, warmup } = workerData
const latencies = []
const total = rate * (seconds + warmup)
const started = performance.now()
const inFlight = []
;(async () => {
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate
    const wait = due - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    inFlight.push(
      fetch(urls[i % urls.length], { headers: { authorization: "Bearer " + tokens[i % tokens.length] } }).then(
        async (response) => {
          if (response.status !== 200) throw new Error("status " + response.status)
          await response.arrayBuffer()
          if (i >= rate * warmup) latencies.push(performance.now() - due)
        }
      )
    )
  }
  await Promise.all(inFlight)
  parentPort.postMessage(latencies)
})().catch((error) => parentPort.postMessage({ error: String(error) }))
`

/** GETs `urls[i]` with `tokens[i]` (cycled) at the rate from a worker thread; its latencies. */
const httpAtRate = (urls: ReadonlyArray<string>, tokens: ReadonlyArray<string>) =>
  new Promise<ReturnType<typeof summary>>((resolve, reject) => {
    const worker = new Worker(HTTP_LOAD, {
      eval: true,
      workerData: { urls, tokens, rate: params.rate, seconds: params.seconds, warmup: params.warmup }
    })
    worker.once("message", (result: Array<number> | { error: string }) => {
      void worker.terminate()
      if (Array.isArray(result)) resolve(summary(result))
      else reject(new Error(result.error))
    })
    worker.once("error", reject)
  })

const main = Effect.gen(function* () {
  const db = yield* Effect.acquireRelease(
    Effect.promise(() => freshDatabase()),
    (d) => Effect.promise(() => d.drop())
  )
  const stores = yield* Layer.build(PgStoresWithReaderLive({ connectionString: db.url, max: 4 }))
  const tenants = Array.from({ length: params.tenants }, (_, i) => `bench-${i}`)
  const rows = tenants.flatMap((tenant) =>
    Array.from({ length: params.customers }, (_, c) =>
      Array.from({ length: params.fields }, (_, f) =>
        profileField({
          tenant,
          customer: `cust-${c}`,
          name: `field_${f}`,
          value: `v${c}-${f}`,
          at: "2024-05-01T10:00:00Z",
          turn: "t1"
        })
      )
    ).flat()
  )
  const profiles = Effect.runSync(Effect.provide(ProfileStore, stores))
  for (let i = 0; i < rows.length; i += 5_000) yield* profiles.writeFields(rows.slice(i, i + 5_000))
  const keys = Effect.runSync(Effect.provide(ApiKeys, stores))
  const tokens = yield* Effect.forEach(tenants, (t) =>
    Effect.map(keys.create(t, "read", "bench", new Date()), (k) => k.token)
  )
  const apiConfig = { rateLimit: { perSecond: 1e6, burst: 1e6 }, authCacheMs: 30_000 }
  const port = yield* serveAdminApi(
    stores,
    apiConfig,
    recordingItemChanges(() => {})
  )
  // the same database behind the cache, as `start` composes it with REDIS_URL
  const redis = yield* Effect.acquireRelease(
    Effect.promise(() => redisServerProcess()),
    (r) => Effect.promise(() => r.stop())
  )
  const cached = yield* Layer.build(
    withRedisCache({ ...RedisCacheConfig.defaults, url: redis.url })(
      PgStoresWithReaderLive({ connectionString: db.url, max: 4 })
    ).pipe(Layer.provide(Metrics.layerTest))
  )
  const cachedPort = yield* serveAdminApi(
    cached,
    apiConfig,
    recordingItemChanges(() => {})
  )

  const pick = (i: number) => ({
    tenant: i % params.tenants,
    customer: `cust-${(i * 7919) % params.customers}`
  })
  const pgClient = Effect.runSync(Effect.provide(PgClient, stores))
  const reader = Effect.runSync(Effect.provide(TenantReader, stores))
  const sql = await0(() =>
    atRate(async (i) => {
      const { tenant, customer } = pick(i)
      await Effect.runPromise(
        pgClient.query("SELECT * FROM profile_fields WHERE tenant_id = $1 AND customer_id = $2", [
          tenants[tenant],
          customer
        ])
      )
    })
  )
  const direct = yield* sql
  const tenantPath = yield* await0(() =>
    atRate(async (i) => {
      const { tenant, customer } = pick(i)
      await Effect.runPromise(reader.listProfile(tenants[tenant]!, customer))
    })
  )
  // the first request of each key pays its scrypt check (then cached for 30 s): timed apart
  const warm = (at: number) =>
    Promise.all(
      tokens.map((token) =>
        fetch(`http://127.0.0.1:${at}/v1/customers/cust-0/fields`, {
          headers: { authorization: `Bearer ${token}` }
        }).then((r) => r.arrayBuffer())
      )
    )
  const firstRequestMs = yield* await0(async () => {
    const t0 = performance.now()
    await warm(port)
    return performance.now() - t0
  })
  // the worker cycles through one url and token per request: the same picks as above, each
  // tenant's key with that tenant's customer
  const picks = Array.from({ length: params.rate * (params.seconds + params.warmup) }, (_, i) => pick(i))
  const throughApi = (at: number) =>
    await0(() =>
      httpAtRate(
        picks.map((p) => `http://127.0.0.1:${at}/v1/customers/${p.customer}/fields`),
        picks.map((p) => tokens[p.tenant]!)
      )
    )
  yield* await0(() => warm(cachedPort))
  const api = yield* throughApi(port)
  // the run fills the cache as it goes (each customer is read about rate*seconds/customers times)
  const apiCached = yield* throughApi(cachedPort)
  const ms = (n: number) => n.toFixed(2)
  console.log(
    `admin API read latency, ${params.rate} requests/s for ${params.seconds} s (${JSON.stringify(params)})`
  )
  console.log("| path | p50 ms | p99 ms | max ms |")
  console.log("|---|---|---|---|")
  for (const [name, r] of [
    ["direct SQL on the processor pool (baseline)", direct],
    ["TenantReader (authenticator pool, binding, RLS)", tenantPath],
    ["HTTP API (key check, TenantReader, JSON)", api],
    ["HTTP API with Redis (key check, cache, TenantReader on a miss)", apiCached]
  ] as const)
    console.log(`| ${name} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} |`)
  console.log(
    `first request of ${params.tenants} new keys at once (scrypt, then cached): ${ms(firstRequestMs)} ms`
  )
  console.log(
    "SQL and TenantReader are driven from the server's event loop; the HTTP load comes from a worker thread"
  )
})

const await0 = <A>(f: () => Promise<A>) => Effect.promise(f)

Effect.runPromise(Effect.scoped(main)).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
