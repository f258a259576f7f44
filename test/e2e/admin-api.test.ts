/**
 * `turnvault start` on PostgreSQL serves the admin API on its HTTP port: a key made with
 * `turnvault keys create` reads a session's turns and a customer's vault of the running service,
 * as the README's walk-through does with curl; without a key the API answers 401.
 */
import { spawn } from "node:child_process"
import { resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runCli } from "../support/cli"
import { freePort, sleep, stopChild } from "../support/child"
import { freshDatabase, queryRows, type TestDatabase } from "../support/postgres"

const repoRoot = resolve(import.meta.dirname, "..", "..")
let db: TestDatabase
let port: number
let child: ReturnType<typeof spawn>
const output: Array<string> = []

beforeAll(async () => {
  db = await freshDatabase()
  port = await freePort()
  const env = { ...process.env }
  for (const key of ["KAFKA_BROKERS", "REDIS_URL"]) delete env[key]
  child = spawn(process.execPath, ["bin/turnvault.mjs", "start"], {
    cwd: repoRoot,
    env: { ...env, DATABASE_URL: db.url, TURNVAULT_HTTP_PORT: String(port), TURNVAULT_SYNTHETIC_RATE: "200" },
    stdio: ["ignore", "pipe", "pipe"]
  })
  child.stdout?.on("data", (c: Buffer) => output.push(c.toString("utf8")))
  child.stderr?.on("data", (c: Buffer) => output.push(c.toString("utf8")))
  const deadline = Date.now() + 90_000
  for (;;) {
    const rows = await queryRows<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM turn_records").catch(
      () => [{ n: 0 }]
    )
    if (rows[0]!.n >= 50) break
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(output.join("").slice(-4000))
    await sleep(500)
  }
}, 120_000)

afterAll(async () => {
  if (child !== undefined) await stopChild(child, { graceMs: 15_000 })
  await db?.drop()
})

describe("the admin API of a running service", () => {
  it("reads the live stores with a key made by the CLI", async () => {
    const [turn] = await queryRows<{ tenant_id: string; session_id: string; customer_id: string }>(
      db.url,
      `SELECT s.tenant_id, s.session_id, s.customer_id FROM sessions s
       WHERE EXISTS (SELECT 1 FROM turn_records r WHERE r.tenant_id = s.tenant_id AND r.session_id = s.session_id)
         AND EXISTS (SELECT 1 FROM profile_fields p WHERE p.tenant_id = s.tenant_id AND p.customer_id = s.customer_id AND p.status = 'active')
       LIMIT 1`
    )
    const created = await runCli(["keys", "create", "--tenant", turn!.tenant_id], { DATABASE_URL: db.url })
    expect(created.code, created.stderr).toBe(0)
    const { token } = JSON.parse(created.stdout.trim().split("\n").pop()!) as { token: string }
    const get = async (path: string, key?: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        headers: key === undefined ? {} : { authorization: `Bearer ${key}` }
      })
      return { status: response.status, body: (await response.json()) as any }
    }
    const turns = await get(`/v1/sessions/${turn!.session_id}/turns`, token)
    expect(turns.status).toBe(200)
    expect(turns.body.turns.length).toBeGreaterThan(0)
    expect(turns.body.turns.every((t: any) => t.tenant_id === turn!.tenant_id)).toBe(true)
    const vault = await get(`/v1/customers/${turn!.customer_id}/fields`, token)
    expect(vault.status).toBe(200)
    expect(vault.body.fields.every((f: any) => f.status === "active")).toBe(true)
    // the chains the running service wrote check out, read in one snapshot while it writes on
    const verified = await get(`/v1/verify?customer=${turn!.customer_id}`, token)
    expect(verified.status).toBe(200)
    expect(verified.body.broken).toEqual([])
    expect(verified.body.turn_records).toBeGreaterThan(0)
    expect((await get(`/v1/sessions/${turn!.session_id}/turns`)).status).toBe(401)
    expect((await get("/openapi.json")).body.info.title).toBe("turnvault admin and query API")
  })
})
