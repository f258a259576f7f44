/**
 * Two `turnvault start` processes (embedded log, one PostgreSQL) with the jobs on short intervals:
 * each schedule tick of each job has one row in job_runs, run by one of them, and the other one
 * counted it skipped; a field past its expires_at is expired by whichever ran the tick.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { Effect } from "effect"
import pg from "pg"
import { PgStoresLive } from "../../src/adapters/postgres"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { profileField } from "../contract/fixtures"
import { afterAll, describe, expect, it } from "vitest"
import { freePort, sleep, waitFor } from "../support/child"
import { freshDatabase, type TestDatabase } from "../support/postgres"

const bin = join(import.meta.dirname, "..", "..", "bin", "turnvault.mjs")
const EXPIRE_MS = 1_000
const ORPHANS_MS = 2_000

const children: Array<ChildProcess> = []
const output: Array<string> = []
let db: TestDatabase | undefined
afterAll(async () => {
  for (const child of children) child.kill("SIGKILL")
  await db?.drop()
})

/** The environment of a child: no backend of this process's, the test database, fast jobs. */
const env = (url: string, port: number): NodeJS.ProcessEnv => {
  const out: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith("TURNVAULT_") && !k.startsWith("VITEST") && !["KAFKA_BROKERS", "REDIS_URL"].includes(k))
      out[k] = v
  return {
    ...out,
    DATABASE_URL: url,
    TURNVAULT_HTTP_PORT: String(port),
    TURNVAULT_LOG_LEVEL: "warning",
    TURNVAULT_SYNTHETIC_RATE: "10",
    TURNVAULT_JOB_EXPIRE_INTERVAL_MS: String(EXPIRE_MS),
    TURNVAULT_JOB_ORPHANS_INTERVAL_MS: String(ORPHANS_MS)
  }
}

const start = async (url: string) => {
  const port = await freePort()
  const child = spawn(process.execPath, [bin, "start"], {
    env: env(url, port),
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.push(child)
  return { child, port }
}

/** `turnvault_job_runs_total{job, status}` of one process. */
const jobRuns = async (port: number, job: string, status: string) => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`turnvault_job_runs_total{job="${job}",status="${status}"}`))
  return Number(line?.split(" ")[1] ?? Number.NaN)
}

const query = async <R extends pg.QueryResultRow>(url: string, text: string, params: Array<unknown> = []) => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<R>(text, params)).rows
  } finally {
    await client.end()
  }
}

/** Sleeps until `phase` ms into the next ORPHANS_MS window: no tick is in flight then. */
const untilPhase = (phase: number) => sleep(ORPHANS_MS - (Date.now() % ORPHANS_MS) + phase)

describe("turnvault start: background jobs on two instances", () => {
  it("runs each job once per tick across both, and expires a stale field", async () => {
    db = await freshDatabase()
    const url = db.url
    const expiresAt = new Date(Date.now() + 4_000).toISOString()
    const otpRow = profileField({
      tenant: "t-jobs",
      name: "otp",
      value: "1",
      at: new Date().toISOString(),
      turn: "turn-1",
      expiresAt
    })
    await Effect.runPromise(
      Effect.flatMap(ProfileStore, (store) => store.writeFields([otpRow])).pipe(
        Effect.provide(PgStoresLive({ connectionString: url, max: 1 }))
      )
    )
    const a = await start(url)
    const b = await start(url)
    for (const { port } of [a, b])
      await waitFor(
        "the first expiry tick",
        async () => {
          const ran =
            (await jobRuns(port, "expire", "ok").catch(() => 0)) +
            (await jobRuns(port, "expire", "skipped").catch(() => 0))
          return ran > 0 ? true : undefined
        },
        { timeoutMs: 90_000, intervalMs: 200 }
      )
    await sleep(6_000)
    // halfway through an expiry tick, a quarter into an orphan tick: no tick is in flight
    await untilPhase(EXPIRE_MS / 2)

    for (const job of ["expire", "orphans"]) {
      const rows = await query<{ tick: string; status: string }>(
        url,
        "SELECT tick, status FROM job_runs WHERE job = $1 ORDER BY tick",
        [job]
      )
      const ok = (await jobRuns(a.port, job, "ok")) + (await jobRuns(b.port, job, "ok"))
      const skipped = (await jobRuns(a.port, job, "skipped")) + (await jobRuns(b.port, job, "skipped"))
      expect(rows.length, job).toBeGreaterThanOrEqual(job === "expire" ? 6 : 3)
      // the children's output says why, if a tick failed
      expect(
        rows.filter((row) => row.status !== "ok"),
        `${job}: ${output.join("")}`
      ).toEqual([])
      expect(ok, job).toBe(rows.length)
      // the second process started a little later: the ticks before it are the first one's alone
      expect(skipped, job).toBeGreaterThanOrEqual(rows.length - 3)
      expect(skipped, job).toBeLessThanOrEqual(rows.length)
    }
    const otp = await query<{ status: string }>(
      url,
      "SELECT status FROM profile_fields WHERE tenant_id = 't-jobs'"
    )
    expect(otp).toEqual([{ status: "expired" }])

    for (const { child } of [a, b]) child.kill("SIGTERM")
    const codes = await Promise.all(
      [a, b].map(
        ({ child }) => new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
      )
    )
    expect(codes).toEqual([0, 0])
  }, 180_000)
})
