/**
 * One round of the sealing benchmark (bench/privacy.bench.ts): `turnvault process` in-process, as
 * `src/app/main.ts` assembles it (`serviceLayer` over the file log and the PostgreSQL stores,
 * Redis in front when given), over the bench workload, with or without TURNVAULT_KEK. Reports the
 * wall time, this process's CPU and the number of sealed rows stored.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Logger, LogLevel } from "effect"
import pg from "pg"
import { processFile } from "../../src/app/commands/process"
import { fileLogLayer, serviceLayer } from "../../src/app/layers"
import { AppConfig } from "../../src/config/AppConfig"
import { Metrics } from "../../src/observability/Metrics"
import { cpuSince, round, scenarioArgs, wallMs, writeResult } from "../lib/measure"
import { makeWorkload, workloadDefinitions } from "../lib/workload"

const args = scenarioArgs({ databaseUrl: "", redisUrl: "", kek: "", events: 0 })

process.env.DATABASE_URL = args.databaseUrl
if (args.redisUrl !== "") process.env.REDIS_URL = args.redisUrl
else delete process.env.REDIS_URL
// each round's own cache entries: a fresh database behind another round's cache would look full
process.env.TURNVAULT_CACHE_KEY_PREFIX = `sealing-${process.pid}-${Date.now()}:`
if (args.kek !== "") process.env.TURNVAULT_KEK = args.kek
else delete process.env.TURNVAULT_KEK

const workload = makeWorkload(args.events)
const dir = mkdtempSync(join(tmpdir(), "turnvault-sealing-"))
const definitions = join(dir, "defs.json")
const input = join(dir, "events.jsonl")
writeFileSync(definitions, JSON.stringify(workloadDefinitions()))
writeFileSync(input, `${workload.lines.map((line) => line.value).join("\n")}\n`)

const config = await Effect.runPromise(AppConfig)
const cpu = process.cpuUsage()
const started = wallMs()
await Effect.runPromise(
  processFile({ definitions, input, exportDir: join(dir, "export"), batchSize: config.batchSize }).pipe(
    Effect.provide(serviceLayer(config, fileLogLayer(config))),
    Effect.provide(Metrics.layer()),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )
)
const wall = wallMs() - started
const used = cpuSince(cpu)
const client = new pg.Client({ connectionString: args.databaseUrl })
await client.connect()
const sealed = await client.query<{ sealed: number; plain: number }>(
  `SELECT count(*) FILTER (WHERE value ? '$sealed')::int AS sealed, count(*) FILTER (WHERE NOT value ? '$sealed' OR jsonb_typeof(value) <> 'object')::int AS plain FROM profile_fields`
)
await client.end()
writeResult({
  sealing: args.kek !== "",
  turns: workload.stats.turns,
  wall_ms: round(wall, 0),
  turns_per_s: round(workload.stats.turns / (wall / 1000), 0),
  cpu_us_per_turn: round((used.total * 1e6) / workload.stats.turns, 0),
  sealed_rows: sealed.rows[0]!.sealed,
  plain_rows: sealed.rows[0]!.plain
})
