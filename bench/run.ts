/**
 * The benchmark runner: every scenario side by side, in one run, on this machine, against the real
 * Kafka broker, PostgreSQL and Redis. Writes bench/results/<date>-<quick|full>.{json,md,svg}.
 *
 *   npm run bench               # full
 *   npm run bench -- --quick    # under 3 minutes
 *   npm run bench -- --profile-only   # only the CPU profiles, kept in bench/results/.work
 *   npm run bench -- --profile-only --no-redis   # the same without the Redis cache
 *
 * Each scenario runs in its own Node process (own heap, CPU and peak RSS). See bench/README.md.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs"
import { cpus, freemem, hostname, release, totalmem } from "node:os"
import { join } from "node:path"
import pg from "pg"
import { freshDatabase, type TestDatabase } from "../test/support/postgres"
import { redisServerProcess } from "../test/support/redis"
import { bundle } from "./lib/bundle"
import { summariseProfile } from "./lib/cpuProfile"
import { brokerList, createTopics, deleteTopics, produceAll } from "./lib/kafka"
import { load, round, wallMs } from "./lib/measure"
import { latestFigures, renderMarkdown, renderSvg } from "./lib/report"
import { runCommand, runScenario } from "./lib/spawn"
import { makeWorkload, PARTITIONS, workloadDefinitions } from "./lib/workload"

const quick = process.argv.includes("--quick")
const root = process.cwd()
const params = quick
  ? {
      events: 8_000,
      naiveBudgetMs: 8_000,
      liveRates: [1_000],
      liveSeconds: 3,
      liveTimeoutMs: 40_000,
      persistenceTurns: 200,
      cpuEvents: 10_000,
      telemetryRecords: 100_000,
      telemetryFlush: 20_000,
      sessions: 100_000,
      profileCacheOps: 4_000,
      profile: false
    }
  : {
      events: 30_000,
      naiveBudgetMs: 30_000,
      liveRates: [1_000, 2_000],
      liveSeconds: 15,
      liveTimeoutMs: 150_000,
      persistenceTurns: 600,
      cpuEvents: 40_000,
      telemetryRecords: 500_000,
      telemetryFlush: 100_000,
      sessions: 100_000,
      profileCacheOps: 20_000,
      profile: true
    }

const runId = `${Date.now().toString(36)}`
const say = (message: string) =>
  console.log(`[bench ${Math.round((wallMs() - startedAt) / 1000)}s] ${message}`)
const startedAt = wallMs()
const loads: Array<{ scenario: string; load: Array<number> }> = []
const databases: Array<TestDatabase> = []
const fresh = async () => {
  const db = await freshDatabase()
  databases.push(db)
  return db
}
const step = async <A>(name: string, run: () => Promise<A>): Promise<A | { error: string }> => {
  say(`${name} ...`)
  loads.push({ scenario: name, load: load() })
  try {
    return await run()
  } catch (error) {
    say(`${name} FAILED: ${error instanceof Error ? error.message : String(error)}`)
    return { error: String(error instanceof Error ? error.message : error) }
  }
}

const git = (...argv: Array<string>) => {
  try {
    return execFileSync("git", argv, { encoding: "utf8" }).trim()
  } catch {
    return "unknown"
  }
}

const machine = async (brokers: ReadonlyArray<string>) => {
  const admin = new pg.Client({
    connectionString: process.env.TEST_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/test"
  })
  await admin.connect()
  const show = async (name: string) => Object.values((await admin.query(`SHOW ${name}`)).rows[0] ?? {})[0]
  const pgVersion = await show("server_version")
  const syncCommit = await show("synchronous_commit")
  const fsync = await show("fsync")
  await admin.end()
  let redisVersion = "unknown"
  try {
    redisVersion = execFileSync("redis-server", ["--version"], { encoding: "utf8" }).trim()
  } catch {}
  return {
    host: hostname(),
    cpu: `${cpus()[0]?.model ?? "unknown"} x ${cpus().length}`,
    memoryGb: round(totalmem() / 2 ** 30, 1),
    freeMemoryGbAtStart: round(freemem() / 2 ** 30, 1),
    kernel: release(),
    node: process.version,
    postgres: `${pgVersion} (fsync=${fsync}, synchronous_commit=${syncCommit})`,
    redis: redisVersion,
    kafka: `${execFileSync("cat", ["scripts/kafka/VERSION"], { encoding: "utf8" }).trim()} single-node KRaft at ${brokers.join(",")}`,
    colocated: "Kafka, PostgreSQL, Redis and the benchmark share this machine",
    loadAtStart: load()
  }
}

const main = async () => {
  const brokers = await brokerList()
  const info = await machine(brokers)
  say(`${quick ? "quick" : "full"} run ${runId} on ${info.cpu}, load ${info.loadAtStart.join(" ")}`)
  const redis = await redisServerProcess()
  const workload = makeWorkload(params.events)
  const prefix = `bench-${runId}.`
  const results: Record<string, unknown> = {}
  try {
    await createTopics(brokers, prefix, PARTITIONS)
    const produced = await produceAll(brokers, `${prefix}turn-events`, workload.lines)
    say(
      `produced ${workload.stats.events} events (${workload.stats.turns} turns) in ${Math.round(produced.ms)} ms`
    )

    results.endToEnd = await step("end to end (turnvault, backlog drain)", async () => {
      const db = await fresh()
      return runScenario("bench/scenarios/e2e.ts", {
        mode: "drain",
        brokers,
        prefix,
        group: `${prefix}turnvault`,
        databaseUrl: db.url,
        redisUrl: redis.url,
        events: params.events
      })
    })
    results.naive = await step("naive baseline (same topic)", async () => {
      const db = await fresh()
      await seedDefinitions(db.url)
      return runScenario("bench/scenarios/naive.ts", {
        brokers,
        prefix,
        group: `${prefix}naive`,
        databaseUrl: db.url,
        events: params.events,
        budgetMs: params.naiveBudgetMs
      })
    })
    results.kafkaCeiling = await step("ceiling: raw kafkajs consume (same topic)", () =>
      runScenario("bench/scenarios/kafkaCeiling.ts", {
        brokers,
        prefix,
        group: `${prefix}ceiling`,
        events: params.events
      })
    )
    results.pgCeiling = await step("ceiling: raw PostgreSQL bulk writes (same rows)", async () => {
      const dbs = [await fresh(), await fresh()]
      return runScenario("bench/scenarios/pgCeiling.ts", {
        databaseUrls: dbs.map((d) => d.url),
        events: params.events,
        batchSize: 500,
        connections: 4
      })
    })
    results.latency = []
    for (const rate of params.liveRates) {
      const r = await step(`end to end latency at ${rate} turns/s`, async () => {
        const livePrefix = `bench-${runId}-live${rate}.`
        await createTopics(brokers, livePrefix, PARTITIONS)
        const db = await fresh()
        const events = Math.round((rate * params.liveSeconds * workload.stats.events) / workload.stats.turns)
        const eventsPerSec = (rate * workload.stats.events) / workload.stats.turns
        const work = join(root, "bench/results/.work")
        mkdirSync(work, { recursive: true })
        return runScenario("bench/scenarios/e2e.ts", {
          mode: "live",
          brokers,
          prefix: livePrefix,
          group: `${livePrefix}turnvault`,
          databaseUrl: db.url,
          redisUrl: redis.url,
          events,
          eventsPerSec,
          timeoutMs: params.liveTimeoutMs,
          producerOut: join(work, `producer-${runId}-${rate}.json`)
        })
      })
      ;(results.latency as Array<unknown>).push({ turnsPerSecOffered: rate, ...(r as object) })
    }
    results.persistence = await step("persistence composition (sequential vs concurrent)", async () => {
      const dbs = [await fresh(), await fresh(), await fresh(), await fresh(), await fresh()]
      return runScenario("bench/scenarios/persistence.ts", {
        databaseUrls: dbs.map((d) => d.url),
        turns: params.persistenceTurns,
        batchTurns: 100
      })
    })
    results.cpu = await step("per-turn CPU (decode, validation, customer data)", () =>
      runScenario("bench/scenarios/cpu.ts", { events: params.cpuEvents })
    )
    results.telemetry = await step("telemetry buffer record and flush rates", () =>
      runScenario("bench/scenarios/telemetry.ts", {
        brokers,
        prefix,
        records: params.telemetryRecords,
        flush: params.telemetryFlush
      })
    )
    results.sessions = await step(`sessions in memory (${params.sessions} actors)`, () =>
      runScenario(
        "bench/scenarios/sessions.ts",
        { sessions: params.sessions },
        { nodeFlags: ["--expose-gc"] }
      )
    )
    results.profileCache = await step("profile cache (existing bench/profile-cache.bench.ts)", async () => {
      const out = await runCommand(process.execPath, ["--import", "tsx", "bench/profile-cache.bench.ts"], {
        env: { BENCH_OPS: String(params.profileCacheOps), BENCH_CUSTOMERS: quick ? "500" : "2000" }
      })
      return { output: out.trimEnd().split("\n") }
    })
    if (params.profile) results.profiles = await step("CPU profiles", () => profiles(brokers, redis.url))
  } finally {
    await deleteTopics(brokers, `bench-${runId}`).catch(() => {})
    await redis.stop()
    for (const db of databases) await db.drop().catch(() => {})
    rmSync(join(root, "bench/results/.work"), { recursive: true, force: true })
  }

  const report = {
    kind: quick ? "quick" : "full",
    command: quick ? "npm run bench -- --quick" : "npm run bench",
    date: new Date().toISOString(),
    git: {
      revision: git("rev-parse", "HEAD"),
      dirty:
        git("status", "--porcelain", "--", "src", "streams", "schemas", "bench", ":!bench/results") !== ""
    },
    machine: info,
    loadDuringRun: loads,
    loadAtEnd: load(),
    durationSeconds: round((wallMs() - startedAt) / 1000, 0),
    workload: workload.stats,
    params,
    knobs: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("TURNVAULT_"))),
    results
  }
  const stamp = report.date.slice(0, 10)
  const base = join(root, "bench/results", `${stamp}-${report.kind}`)
  mkdirSync(join(root, "bench/results"), { recursive: true })
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`)
  writeFileSync(`${base}.svg`, renderSvg(report))
  const md = renderMarkdown(report, `${stamp}-${report.kind}.svg`)
  writeFileSync(`${base}.md`, md)
  writeFileSync(
    join(root, "bench/results/latest.json"),
    `${JSON.stringify(latestFigures(report), null, 2)}\n`
  )
  console.log(`\n${md}`)
  console.log(`results: ${base}.{json,md,svg} and bench/results/latest.json`)
}

/** Field definitions for the naive baseline's database (turnvault's own path upserts them itself). */
const seedDefinitions = async (url: string) => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(
      `INSERT INTO field_definitions (tenant_id, agent_id, name, definition, version)
       SELECT d->>'tenant_id', d->>'agent_id', d->>'name', d - 'version', 1 FROM jsonb_array_elements($1::jsonb) AS x(d)`,
      [JSON.stringify(workloadDefinitions())]
    )
  } finally {
    await client.end()
  }
}

/**
 * CPU profiles (full run): `turnvault process` on the embedded stores (the CLI, as a bundle so V8
 * sees real function names) and the end-to-end scenario on Kafka + PostgreSQL + Redis.
 */
const profiles = async (brokers: ReadonlyArray<string>, redisUrl: string) => {
  const work = join(root, "bench/results/.work")
  mkdirSync(work, { recursive: true })
  const events = Math.min(params.events, 20_000)
  const w = makeWorkload(events)
  writeFileSync(join(work, "defs.json"), JSON.stringify(workloadDefinitions()))
  writeFileSync(join(work, "events.jsonl"), `${w.lines.map((l) => l.value).join("\n")}\n`)
  const cli = await bundle("src/app/main.ts", join(work, "turnvault.mjs"))
  const processDir = join(work, "prof-process")
  // A profile left by an earlier --profile-only run must not be read as this run's.
  for (const dir of ["prof-process", "prof-e2e"]) rmSync(join(work, dir), { recursive: true, force: true })
  const env = { DATABASE_URL: "", REDIS_URL: "", KAFKA_BROKERS: "" }
  const t0 = wallMs()
  await runCommand(
    process.execPath,
    [
      "--cpu-prof",
      "--cpu-prof-dir",
      processDir,
      cli,
      "process",
      "--definitions",
      join(work, "defs.json"),
      "--input",
      join(work, "events.jsonl"),
      "--export",
      join(work, "export")
    ],
    { env }
  )
  const processMs = wallMs() - t0
  // One profile per thread (tsx's loader runs in a worker): the main thread's is the largest.
  const mainThreadProfile = (dir: string) =>
    readdirSync(dir)
      .filter((f) => f.endsWith(".cpuprofile"))
      .map((f) => join(dir, f))
      .sort((a, b) => statSync(b).size - statSync(a).size)[0]!
  const processProfile = summariseProfile(mainThreadProfile(processDir), root, 15)

  const e2e = await bundle("bench/scenarios/e2e.ts", join(work, "e2e.mjs"))
  const prefix = `bench-${runId}-prof.`
  await createTopics(brokers, prefix, PARTITIONS)
  await produceAll(brokers, `${prefix}turn-events`, w.lines)
  const db = await fresh()
  const e2eDir = join(work, "prof-e2e")
  const drain = await runScenario<Record<string, unknown>>(
    e2e,
    { mode: "drain", brokers, prefix, group: `${prefix}turnvault`, databaseUrl: db.url, redisUrl, events },
    { nodeFlags: ["--cpu-prof", "--cpu-prof-dir", e2eDir] }
  ).catch((e) => ({ error: String(e) }))
  const e2eProfile = summariseProfile(mainThreadProfile(e2eDir), root, 15)
  return {
    process: {
      events,
      runMs: round(processMs, 0),
      command: "node --cpu-prof <bundle of src/app/main.ts> process ...",
      ...processProfile
    },
    endToEnd: { events, run: drain, ...e2eProfile }
  }
}

/** `--profile-only`: just the two CPU profiles, kept under bench/results/.work for a closer look. */
const profileOnly = async () => {
  const brokers = await brokerList()
  const redis = await redisServerProcess()
  try {
    // --no-redis: the same end-to-end profile without the Redis cache, to see what the cache costs.
    const result = await profiles(brokers, process.argv.includes("--no-redis") ? "" : redis.url)
    console.log(JSON.stringify(result, null, 2))
    console.log(`profiles kept in ${join(root, "bench/results/.work")}/prof-{process,e2e}`)
  } finally {
    await deleteTopics(brokers, `bench-${runId}`).catch(() => {})
    await redis.stop()
    for (const db of databases) await db.drop().catch(() => {})
  }
}

await (process.argv.includes("--profile-only") ? profileOnly() : main())
process.exit(0)
