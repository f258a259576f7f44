/**
 * What sealing PII costs (issue 16: "≤ 15 % throughput cost"), side by side in one run: `turnvault
 * process` in-process over the bench workload on PostgreSQL and Redis, with TURNVAULT_KEK unset
 * (values in the clear) and set (is_pii profile values sealed under per-customer keys),
 * alternating rounds, each on a fresh database. Not a timed test.
 *
 *   npx tsx bench/privacy.bench.ts
 *
 * Knobs (environment): BENCH_EVENTS (20000), BENCH_ROUNDS (3).
 * Needs PostgreSQL (test/support/postgres.ts: TEST_DATABASE_ADMIN_URL) and redis-server on the
 * PATH (its own, on a free port) unless REDIS_URL is set. Writes bench/results/<date>-privacy.{json,md}.
 */
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, hostname } from "node:os"
import { freshDatabase } from "../test/support/postgres"
import { redisServerProcess } from "../test/support/redis"
import { knob, load, round } from "./lib/measure"
import { runScenario } from "./lib/spawn"

interface Round {
  readonly sealing: boolean
  readonly turns: number
  readonly wall_ms: number
  readonly turns_per_s: number
  readonly cpu_us_per_turn: number
  readonly sealed_rows: number
  readonly plain_rows: number
}

const params = { events: knob("BENCH_EVENTS", 20_000), rounds: knob("BENCH_ROUNDS", 3) }
const kek = randomBytes(32).toString("base64")
const redis = process.env.REDIS_URL === undefined ? await redisServerProcess() : null
const redisUrl = process.env.REDIS_URL ?? redis!.url

const rounds: Array<Round & { readonly load: ReadonlyArray<number> }> = []
try {
  for (let i = 0; i < params.rounds; i++)
    for (const sealing of i % 2 === 0 ? [false, true] : [true, false]) {
      const db = await freshDatabase()
      try {
        const before = load()
        const result = await runScenario<Round>("bench/scenarios/sealing.ts", {
          databaseUrl: db.url,
          redisUrl,
          kek: sealing ? kek : "",
          events: params.events
        })
        // every turn applied: a round that dead-lettered them (a stale cache, a wrong database) measures nothing
        if (result.plain_rows + result.sealed_rows === 0)
          throw new Error(`round ${i + 1} stored no profile rows`)
        rounds.push({ ...result, load: before })
        console.log(
          `round ${i + 1} ${sealing ? "sealed" : "clear "}: ${result.turns_per_s} turns/s, ${result.cpu_us_per_turn} µs CPU/turn, ${result.sealed_rows} sealed rows (load ${before.join(" ")})`
        )
      } finally {
        await db.drop()
      }
    }
} finally {
  await redis?.stop()
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const of = (sealing: boolean) => rounds.filter((r) => r.sealing === sealing)
const summary = (sealing: boolean) => ({
  turns_per_s: median(of(sealing).map((r) => r.turns_per_s)),
  cpu_us_per_turn: median(of(sealing).map((r) => r.cpu_us_per_turn)),
  sealed_rows: of(sealing)[0]?.sealed_rows ?? 0
})
const clear = summary(false)
const sealed = summary(true)
const result = {
  bench: "privacy",
  date: new Date().toISOString(),
  git_revision: execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim(),
  machine: { host: hostname(), cpus: cpus().length, model: cpus()[0]?.model },
  params,
  clear,
  sealed,
  throughput_cost_pct: round((1 - sealed.turns_per_s / clear.turns_per_s) * 100, 1),
  cpu_cost_pct: round((sealed.cpu_us_per_turn / clear.cpu_us_per_turn - 1) * 100, 1),
  rounds
}
const md = [
  `# Sealing PII: cost (${result.date.slice(0, 10)}, ${result.git_revision}, ${result.machine.cpus} cores)`,
  "",
  `\`npx tsx bench/privacy.bench.ts\`: ${params.events} events, ${params.rounds} rounds each, alternating; \`turnvault process\` on PostgreSQL + Redis. Medians.`,
  "",
  "| | clear | sealed | cost |",
  "|---|---:|---:|---:|",
  `| turns/s | ${clear.turns_per_s} | ${sealed.turns_per_s} | ${result.throughput_cost_pct} % |`,
  `| turnvault CPU µs/turn | ${clear.cpu_us_per_turn} | ${sealed.cpu_us_per_turn} | ${result.cpu_cost_pct} % |`,
  `| sealed profile rows | ${clear.sealed_rows} | ${sealed.sealed_rows} | |`,
  "",
  "Rounds:",
  "",
  ...rounds.map(
    (r, i) =>
      `- ${i + 1}. ${r.sealing ? "sealed" : "clear"}: ${r.turns_per_s} turns/s, ${r.cpu_us_per_turn} µs/turn (load ${r.load.join(" ")})`
  ),
  ""
].join("\n")
mkdirSync("bench/results", { recursive: true })
const stem = `bench/results/${result.date.slice(0, 10)}-privacy`
writeFileSync(`${stem}.json`, `${JSON.stringify(result, null, 2)}\n`)
writeFileSync(`${stem}.md`, md)
console.log(md)
