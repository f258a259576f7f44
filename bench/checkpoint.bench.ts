/**
 * What the signed checkpoints cost (decision 0018), side by side in one run on PostgreSQL: after
 * `turnvault process` of the bench workload, the first checkpoint (every session's heads), a
 * second one after one more turn in 1 % of the sessions (the steady case: only what moved), and
 * `verify` with and without `--checkpoints`. Not a timed test.
 *
 *   npx tsx bench/checkpoint.bench.ts
 *
 * Knobs (environment): BENCH_EVENTS (20000), BENCH_ROUNDS (3).
 * Writes bench/results/<date>-checkpoint.{json,md}.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Layer, Logger, LogLevel } from "effect"
import { PgStoresLive } from "../src/adapters/postgres"
import { processFile } from "../src/app/commands/process"
import { verifyStores } from "../src/app/commands/verify"
import { fileLogLayer, serviceLayer } from "../src/app/layers"
import { AppConfig } from "../src/config/AppConfig"
import { newKeyPair, signerOf } from "../src/domain/checkpoint"
import { recordHash } from "../src/domain/turnRecord"
import { writeCheckpoint } from "../src/jobs/Checkpointer"
import { Metrics } from "../src/observability/Metrics"
import { AuditStore } from "../src/ports/AuditStore"
import { freshDatabase } from "../test/support/postgres"
import { knob, round, wallMs } from "./lib/measure"
import { makeWorkload, workloadDefinitions } from "./lib/workload"

const params = { events: knob("BENCH_EVENTS", 20_000), rounds: knob("BENCH_ROUNDS", 3) }
const signer = signerOf(newKeyPair().private_key)
const timed = async <A>(run: () => Promise<A>) => {
  const started = wallMs()
  const value = await run()
  return { value, ms: round(wallMs() - started, 1) }
}

const dir = mkdtempSync(join(tmpdir(), "turnvault-checkpoint-"))
const workload = makeWorkload(params.events)
const definitions = join(dir, "defs.json")
const input = join(dir, "events.jsonl")
writeFileSync(definitions, JSON.stringify(workloadDefinitions()))
writeFileSync(input, `${workload.lines.map((line) => line.value).join("\n")}\n`)

const rounds: Array<Record<string, number>> = []
for (let i = 0; i < params.rounds; i++) {
  const db = await freshDatabase()
  try {
    process.env.DATABASE_URL = db.url
    delete process.env.REDIS_URL
    const config = await Effect.runPromise(AppConfig)
    await Effect.runPromise(
      processFile({
        definitions,
        input,
        exportDir: join(dir, `export-${i}`),
        batchSize: config.batchSize
      }).pipe(
        Effect.provide(serviceLayer(config, fileLogLayer(config))),
        Effect.provide(Metrics.layer()),
        Logger.withMinimumLogLevel(LogLevel.Warning)
      )
    )
    const stores = PgStoresLive({ connectionString: db.url, max: 4 })
    const run = <A, E>(effect: Effect.Effect<A, E, Layer.Layer.Success<typeof stores>>) =>
      Effect.runPromise(effect.pipe(Effect.provide(stores)))
    const publish = () => Effect.void
    const first = await timed(() => run(writeCheckpoint(signer, publish)))
    // one more record in 1 % of the sessions: what a steady checkpoint sees
    const moved = await run(
      Effect.gen(function* () {
        const audit = yield* AuditStore
        const records = yield* audit.listRecords({})
        const last = new Map(records.map((r) => [`${r.tenant_id}\u0000${r.session_id}`, r]))
        const some = [...last.values()].filter((_, n) => n % 100 === 0)
        yield* audit.append(
          some.map((r) => {
            const body = {
              ...r,
              turn_id: `${r.turn_id}-more`,
              turn_number: r.turn_number + 1,
              prev_hash: r.hash
            }
            return { ...body, hash: recordHash(body) }
          }),
          []
        )
        return some.length
      })
    )
    const second = await timed(() => run(writeCheckpoint(signer, publish)))
    const plain = await timed(() => run(verifyStores({})))
    const checked = await timed(() => run(verifyStores({}, signer.publicKey)))
    const result = {
      sessions: plain.value.sessions,
      turn_records: plain.value.turnRecords,
      first_leaves: first.value?.body.leaves ?? 0,
      first_ms: first.ms,
      moved_sessions: moved,
      second_leaves: second.value?.body.leaves ?? 0,
      second_ms: second.ms,
      verify_ms: plain.ms,
      verify_checkpoints_ms: checked.ms
    }
    rounds.push(result)
    console.log(`round ${i + 1}: ${JSON.stringify(result)}`)
  } finally {
    await db.drop()
  }
}

const median = (key: string) => {
  const xs = rounds.map((r) => r[key]!).sort((a, b) => a - b)
  return xs.length % 2 === 1 ? xs[(xs.length - 1) / 2]! : (xs[xs.length / 2 - 1]! + xs[xs.length / 2]!) / 2
}
const git = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim()
const date = new Date().toISOString()
const r0 = rounds[0]!
const md = [
  `# Signed checkpoints: cost (${date.slice(0, 10)}, ${git}, ${cpus().length} cores)`,
  "",
  `\`npx tsx bench/checkpoint.bench.ts\`: ${params.events} events through \`turnvault process\` on PostgreSQL, ${params.rounds} rounds; medians.`,
  "",
  "| | leaves | ms |",
  "|---|---:|---:|",
  `| first checkpoint (every session of ${r0.sessions}) | ${median("first_leaves")} | ${median("first_ms")} |`,
  `| next checkpoint (1 % of the sessions moved) | ${median("second_leaves")} | ${median("second_ms")} |`,
  `| verify (${r0.turn_records} turn records) | | ${median("verify_ms")} |`,
  `| verify --checkpoints | | ${median("verify_checkpoints_ms")} |`,
  ""
].join("\n")
mkdirSync("bench/results", { recursive: true })
const stem = `bench/results/${date.slice(0, 10)}-checkpoint`
writeFileSync(
  `${stem}.json`,
  `${JSON.stringify({ bench: "checkpoint", date, git_revision: git, params, rounds }, null, 2)}\n`
)
writeFileSync(`${stem}.md`, md)
console.log(md)
