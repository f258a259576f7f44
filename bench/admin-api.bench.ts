/**
 * Admin API latency: `GET /v1/customers/{id}/fields` at a fixed request rate, side by side with
 * the same read as direct SQL on the processor's pool (the baseline: no HTTP, no key check, no
 * tenant binding) and with the tenant path alone (TenantReader, no HTTP). One run, one machine,
 * real PostgreSQL. Not a timed test.
 *
 *   npx tsx bench/admin-api.bench.ts
 *
 * Knobs (environment): BENCH_CUSTOMERS (2000), BENCH_FIELDS (10), BENCH_RATE (200 requests/s),
 * BENCH_SECONDS (15), BENCH_TENANTS (4: reads alternate between tenants, so connections rebind).
 */
import { knob } from "./lib/measure"
import { Effect, Layer } from "effect"
import { performance } from "node:perf_hooks"
import { PgStoresWithReaderLive } from "../src/adapters/postgres"
import { PgClient } from "../src/adapters/postgres/PgClient"
import { TenantReader } from "../src/adapters/postgres/TenantReader"
import { ApiKeys } from "../src/ports/ApiKeys"
import { ProfileStore } from "../src/ports/ProfileStore"
import { profileField } from "../test/contract/fixtures"
import { recordingItemChanges, serveAdminApi } from "../test/support/adminApi"
import { freshDatabase } from "../test/support/postgres"

const params = {
  customers: knob("BENCH_CUSTOMERS", 2_000),
  fields: knob("BENCH_FIELDS", 10),
  rate: knob("BENCH_RATE", 200),
  seconds: knob("BENCH_SECONDS", 15),
  tenants: knob("BENCH_TENANTS", 4)
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

/** Runs `request` at `rate` per second for `seconds` (open loop: late answers do not slow the rate). */
const atRate = async (request: (i: number) => Promise<void>) => {
  const latencies: Array<number> = []
  const total = params.rate * params.seconds
  const started = performance.now()
  const inFlight: Array<Promise<void>> = []
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / params.rate
    const wait = due - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    const t0 = performance.now()
    inFlight.push(request(i).then(() => void latencies.push(performance.now() - t0)))
  }
  await Promise.all(inFlight)
  const sorted = latencies.sort((a, b) => a - b)
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? 0 }
}

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
  const port = yield* serveAdminApi(
    stores,
    { rateLimit: { perSecond: 1e6, burst: 1e6 }, authCacheMs: 30_000 },
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
  const firstRequestMs = yield* await0(async () => {
    const t0 = performance.now()
    await Promise.all(
      tokens.map((token) =>
        fetch(`http://127.0.0.1:${port}/v1/customers/cust-0/fields`, {
          headers: { authorization: `Bearer ${token}` }
        }).then((r) => r.arrayBuffer())
      )
    )
    return performance.now() - t0
  })
  const api = yield* await0(() =>
    atRate(async (i) => {
      const { tenant, customer } = pick(i)
      const response = await fetch(`http://127.0.0.1:${port}/v1/customers/${customer}/fields`, {
        headers: { authorization: `Bearer ${tokens[tenant]}` }
      })
      if (response.status !== 200) throw new Error(`status ${response.status}`)
      await response.arrayBuffer()
    })
  )
  const ms = (n: number) => n.toFixed(2)
  console.log(
    `admin API read latency, ${params.rate} requests/s for ${params.seconds} s (${JSON.stringify(params)})`
  )
  console.log("| path | p50 ms | p99 ms | max ms |")
  console.log("|---|---|---|---|")
  for (const [name, r] of [
    ["direct SQL on the processor pool (baseline)", direct],
    ["TenantReader (authenticator pool, binding, RLS)", tenantPath],
    ["HTTP API (key check, TenantReader, JSON)", api]
  ] as const)
    console.log(`| ${name} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} |`)
  console.log(
    `first request of ${params.tenants} new keys at once (scrypt, then cached): ${ms(firstRequestMs)} ms`
  )
  console.log("the load generator runs in the server's process (one event loop for both)")
})

const await0 = <A>(f: () => Promise<A>) => Effect.promise(f)

Effect.runPromise(Effect.scoped(main)).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
