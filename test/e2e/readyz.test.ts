/**
 * Readiness follows progress, not just connections (DESIGN 7): `turnvault start` runs on the
 * embedded log with PostgreSQL stores and synthetic load. The test then holds an ACCESS EXCLUSIVE
 * lock on turn_records in an open transaction, so every write of a turn blocks while all
 * connections stay up: /readyz must turn 503 (consumer stalled, PostgreSQL still answering) while
 * /healthz stays 200, and recover once the lock is released.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { resolve } from "node:path"
import pg from "pg"
import { freePort, stopChild, waitFor } from "../support/child"
import { freshDatabase, type TestDatabase } from "../support/postgres"

const repoRoot = resolve(import.meta.dirname, "..", "..")
const stallMs = 3_000

interface Readyz {
  readonly status: number
  readonly body: {
    readonly ready: boolean
    readonly checks: ReadonlyArray<{ name: string; ok: boolean; detail: string }>
  }
}

describe("/readyz when consumption stalls while connections are up", () => {
  let db: TestDatabase | undefined
  let child: ChildProcess | undefined
  let locker: pg.Client | undefined
  let base = ""
  const output: Array<string> = []

  const readyz = async (): Promise<Readyz> => {
    const response = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5_000) })
    return { status: response.status, body: (await response.json()) as Readyz["body"] }
  }

  /** Polls /readyz until `done` holds; bounded, with the last answer and the logs on failure. */
  const readyzUntil = (what: string, timeoutMs: number, done: (r: Readyz) => boolean) => {
    let last: Readyz | string = "no answer"
    return waitFor(
      what,
      async () => {
        last = await readyz().catch((e: unknown) => String(e))
        return typeof last !== "string" && done(last) ? last : undefined
      },
      {
        timeoutMs,
        intervalMs: 200,
        describe: () => `last /readyz ${JSON.stringify(last)}\n${output.join("").slice(-3000)}`
      }
    )
  }

  const turnRecords = async (client: pg.Client) =>
    Number((await client.query<{ n: string }>("SELECT count(*) AS n FROM turn_records")).rows[0]!.n)

  beforeAll(async () => {
    db = await freshDatabase()
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    const env = { ...process.env }
    for (const key of ["KAFKA_BROKERS", "REDIS_URL"]) delete env[key]
    child = spawn(process.execPath, ["bin/turnvault.mjs", "start"], {
      cwd: repoRoot,
      env: {
        ...env,
        DATABASE_URL: db.url,
        TURNVAULT_HTTP_PORT: String(port),
        TURNVAULT_SYNTHETIC_RATE: "300",
        TURNVAULT_PARTITIONS: "4",
        TURNVAULT_READY_STALL_MS: String(stallMs)
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    child.stdout?.on("data", (c: Buffer) => output.push(c.toString("utf8")))
    child.stderr?.on("data", (c: Buffer) => output.push(c.toString("utf8")))
    locker = new pg.Client({ connectionString: db.url })
    await locker.connect()
  })

  afterAll(async () => {
    await locker?.query("ROLLBACK").catch(() => {})
    await locker?.end().catch(() => {})
    await stopChild(child, { graceMs: 15_000 })
    await db?.drop()
  })

  it("is ready while turns flow, 503 while writes block, ready again once they resume", async () => {
    const ready = await readyzUntil("turnvault to become ready", 60_000, (r) => r.status === 200)
    expect(ready.body.checks.map((c) => [c.name, c.ok])).toEqual([
      ["embedded", true],
      ["postgres", true]
    ])
    await readyzUntil("turns to be recorded", 30_000, () => true)
    const before = await turnRecords(locker!)

    await locker!.query("BEGIN")
    await locker!.query("LOCK TABLE turn_records IN ACCESS EXCLUSIVE MODE")
    const lockedAt = Date.now()
    const stalled = await readyzUntil("/readyz to report the stall", 30_000, (r) => r.status === 503)
    // Not long before the configured bound (measured from the last commit, which precedes the
    // moment the lock was granted by up to one batch): a batch in flight is not a stall.
    expect(Date.now() - lockedAt).toBeGreaterThanOrEqual(stallMs - 1_500)
    expect(stalled.body.ready).toBe(false)
    expect(stalled.body.checks).toContainEqual(
      expect.objectContaining({ name: "embedded", ok: false, detail: expect.stringContaining("no progress") })
    )
    // The connections are up: PostgreSQL still answers, the process is alive.
    expect(stalled.body.checks).toContainEqual({ name: "postgres", ok: true, detail: "ok" })
    const healthz = await fetch(`${base}/healthz`)
    expect(healthz.status).toBe(200)

    await locker!.query("ROLLBACK")
    const recovered = await readyzUntil("/readyz to recover", 30_000, (r) => r.status === 200)
    expect(recovered.body.checks.every((c) => c.ok)).toBe(true)
    expect(await turnRecords(locker!)).toBeGreaterThan(before)
  })
})
