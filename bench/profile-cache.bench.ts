/**
 * Profile-load latency, cached (Redis in front of PostgreSQL) vs PostgreSQL alone, on a skewed
 * (Zipf) workload with a share of writes, in one run and side by side. Not a timed test.
 *
 *   npx tsx bench/profile-cache.bench.ts
 *
 * Knobs (environment): BENCH_CUSTOMERS (2000), BENCH_FIELDS (10), BENCH_OPS (20000),
 * BENCH_ZIPF_S (1.1), BENCH_WRITE_SHARE (0.02), BENCH_CONCURRENCY (8).
 * Uses a throwaway database (test/support/postgres.ts: TEST_DATABASE_ADMIN_URL) and its own
 * redis-server on a free port unless REDIS_URL is set.
 */
import { knob } from "./lib/measure"
import { Context, Effect, Fiber, Layer, Option } from "effect"
import type { ProfileField } from "../src/domain/model"
import { RedisCacheConfig, withRedisCache } from "../src/adapters/redis"
import { redisServerProcess } from "../test/support/redis"
import { PgStoresLive } from "../src/adapters/postgres"
import { ProfileStore, type ProfileStoreService } from "../src/ports/ProfileStore"
import { Metrics, makeMetrics } from "../src/observability/Metrics"
import { freshDatabase } from "../test/support/postgres"

const params = {
  customers: knob("BENCH_CUSTOMERS", 2_000),
  fields: knob("BENCH_FIELDS", 10),
  ops: knob("BENCH_OPS", 20_000),
  zipfS: knob("BENCH_ZIPF_S", 1.1),
  writeShare: knob("BENCH_WRITE_SHARE", 0.02),
  concurrency: knob("BENCH_CONCURRENCY", 8),
  historyLimit: 10
}

/** mulberry32: a small seeded PRNG, so both runs see the same operations. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const zipf = (n: number, s: number, random: () => number) => {
  const cdf = new Float64Array(n)
  let total = 0
  for (let k = 0; k < n; k++) {
    total += 1 / (k + 1) ** s
    cdf[k] = total
  }
  return () => {
    const u = random() * total
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cdf[mid]! < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

const TENANT = "bench-tenant"
const customerId = (i: number) => `customer-${i}`

const field = (customer: number, name: number, version: number): ProfileField => ({
  id: `${customerId(customer)}:f${name}:${version}`,
  tenant_id: TENANT,
  customer_id: customerId(customer),
  name: `field_${name}`,
  value: `value ${version} of field ${name} for customer ${customer}`,
  scope: "BUSINESS",
  status: "active",
  source: "USER",
  confidence: 1,
  updated_at: new Date(Date.UTC(2024, 0, 1) + version * 1000).toISOString(),
  source_item_id: `turn-${customer}-${version}`,
  source_item_type: "turn",
  source_metadata: {},
  superseded_by_id: null,
  case_id: null,
  expires_at: null,
  validation_error: null,
  confirmed_at: null,
  confirmed_by: null,
  definition_version: 1
})

type Op = { readonly kind: "read" | "write"; readonly customer: number; readonly version: number }

const workload = (): ReadonlyArray<Op> => {
  const random = prng(42)
  const pick = zipf(params.customers, params.zipfS, random)
  return Array.from({ length: params.ops }, (_, i) => ({
    kind: random() < params.writeShare ? "write" : "read",
    customer: pick(),
    version: 1_000 + i
  }))
}

/**
 * How the cache answered the current fiber's last request: the cache counts it synchronously in the
 * reading fiber, so recording the counter's label per fiber classifies every read exactly.
 */
const lastResult = new Map<string, string>()
const fiberKey = () =>
  Option.match(Fiber.getCurrentFiber(), { onNone: () => "", onSome: (fiber) => String(fiber.id().id) })
const classify = (metrics: ReturnType<typeof makeMetrics>) => {
  const counter = metrics.cacheRequests
  const inc = counter.inc.bind(counter) as (labels: Record<string, string>) => void
  ;(counter as unknown as { inc: (labels: Record<string, string>) => void }).inc = (labels) => {
    lastResult.set(fiberKey(), labels.result ?? "")
    inc(labels)
  }
}

interface Read {
  readonly ms: number
  readonly result: string
  readonly index: number
}

/** Runs the operations with `concurrency` workers; returns every read's latency and cache result. */
const run = (store: ProfileStoreService, ops: ReadonlyArray<Op>) =>
  Effect.gen(function* () {
    const latencies: Array<Read> = []
    let next = 0
    const worker = Effect.gen(function* () {
      while (next < ops.length) {
        const op = ops[next++]!
        if (op.kind === "write") {
          yield* store.writeFields([field(op.customer, op.version % params.fields, op.version)])
          continue
        }
        const index = next - 1
        lastResult.delete(fiberKey())
        const started = performance.now()
        yield* store.loadCustomer(TENANT, customerId(op.customer), params.historyLimit)
        const ms = performance.now() - started
        latencies.push({ ms, result: lastResult.get(fiberKey()) ?? "none", index })
      }
    })
    yield* Effect.all(
      Array.from({ length: params.concurrency }, () => worker),
      { concurrency: "unbounded" }
    )
    return latencies
  })

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

const summary = (reads: ReadonlyArray<Read>) => {
  const sorted = reads.map((r) => r.ms).sort((a, b) => a - b)
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length
  }
}

const hitRate = (reads: ReadonlyArray<Read>) =>
  reads.filter((r) => r.result === "hit").length / Math.max(1, reads.length)

const requests = async (metrics: ReturnType<typeof makeMetrics>) => {
  const values = (await metrics.cacheRequests.get()).values.filter((v) => v.labels.cache === "profile")
  const of = (result: string) => values.find((v) => v.labels.result === result)?.value ?? 0
  return { hit: of("hit"), miss: of("miss"), fallback: of("fallback"), error: of("error") }
}

const main = Effect.gen(function* () {
  const db = yield* Effect.acquireRelease(
    Effect.promise(() => freshDatabase()),
    (d) => Effect.promise(() => d.drop())
  )
  const redisUrl =
    process.env.REDIS_URL ??
    (yield* Effect.acquireRelease(
      Effect.promise(() => redisServerProcess()),
      (server) => Effect.promise(() => server.stop())
    )).url
  const pg = PgStoresLive({ connectionString: db.url, max: 10 })
  const metrics = makeMetrics({ processMetrics: false })
  classify(metrics)
  const cached = withRedisCache({ ...RedisCacheConfig.defaults, url: redisUrl })(pg).pipe(
    Layer.provide(Layer.succeed(Metrics, metrics))
  )
  const plain = Context.get(yield* Layer.build(pg), ProfileStore)
  const viaCache = Context.get(yield* Layer.build(cached), ProfileStore)

  // Seed: every customer has every field, each with a superseded previous value (history).
  for (let c = 0; c < params.customers; c += 50) {
    const rows: Array<ProfileField> = []
    for (let i = c; i < Math.min(params.customers, c + 50); i++)
      for (let f = 0; f < params.fields; f++) rows.push(field(i, f, 1), field(i, f, 2))
    yield* plain.writeFields(rows)
  }
  const ops = workload()
  const reads = ops.filter((op) => op.kind === "read").length
  console.log("profile cache benchmark")
  console.log(
    `  customers=${params.customers} fields=${params.fields} (+1 history each) ops=${params.ops} ` +
      `(reads=${reads}, writes=${ops.length - reads}) zipf_s=${params.zipfS} concurrency=${params.concurrency}`
  )
  console.log(`  postgres=${db.name} redis=${redisUrl} (cache starts cold)`)

  // Warm the connection pools so neither run pays for connecting.
  yield* Effect.all(
    Array.from({ length: 10 }, () => plain.loadCustomer(TENANT, customerId(0), params.historyLimit)),
    { concurrency: "unbounded" }
  )

  const postgres = yield* run(plain, ops)
  const cachedReads = yield* run(viaCache, ops)
  const counts = yield* Effect.promise(() => requests(metrics))
  const warm = cachedReads.filter((r) => r.index >= ops.length / 2)

  const row = (name: string, reads: ReadonlyArray<Read>, extra = "") => {
    const s = summary(reads)
    return `  ${name.padEnd(34)} ${String(s.n).padStart(6)} ${s.p50.toFixed(3).padStart(8)} ${s.p99
      .toFixed(3)
      .padStart(8)} ${s.mean.toFixed(3).padStart(8)}   ${extra}`
  }
  console.log("")
  console.log(
    `  ${"profile load".padEnd(34)} ${"reads".padStart(6)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"mean ms".padStart(8)}`
  )
  console.log(row("postgresql only (baseline)", postgres, "target p99 < 50 ms"))
  console.log(
    row(
      "redis + postgresql, all reads",
      cachedReads,
      `hit rate ${(hitRate(cachedReads) * 100).toFixed(1)}% (cold start included)`
    )
  )
  console.log(
    row(
      "  served from redis (hits)",
      cachedReads.filter((r) => r.result === "hit"),
      "target p99 < 10 ms"
    )
  )
  console.log(
    row(
      "  served from postgresql (misses)",
      cachedReads.filter((r) => r.result !== "hit")
    )
  )
  console.log(
    row("  second half (warm)", warm, `hit rate ${(hitRate(warm) * 100).toFixed(1)}% (target > 80%)`)
  )
  console.log(
    `  cache counters: hits=${counts.hit} misses=${counts.miss} fallbacks=${counts.fallback} errors=${counts.error}`
  )
})

Effect.runPromise(Effect.scoped(main)).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
