/**
 * `process` against PostgreSQL: the same export as the embedded default, idempotent replays,
 * crash-and-rerun exactness, `verify` catching tampering, and definitions import versioning.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { join } from "node:path"
import pg from "pg"
import { freshDatabase, type TestDatabase } from "../support/postgres"
import { readExport, runCli, writeWorkload } from "../support/cli"
import { redisServerProcess } from "../support/redis"

let db: TestDatabase
let workload: Awaited<ReturnType<typeof writeWorkload>>

const query = async <R extends pg.QueryResultRow = any>(sql: string, params: Array<unknown> = []) => {
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    return await client.query<R>(sql, params)
  } finally {
    await client.end()
  }
}
const rowCounts = async () =>
  (
    await query(`SELECT (SELECT count(*) FROM sessions) s, (SELECT count(*) FROM session_history) h,
                        (SELECT count(*) FROM profile_fields) p, (SELECT count(*) FROM turn_records) r`)
  ).rows[0]

/** `process` of the workload (definitions, requirements, events) exporting into `exportDir`. */
const processArgs = (exportDir: string) => [
  "process",
  "--definitions",
  workload.definitions,
  "--requirements",
  workload.requirements,
  "--input",
  workload.input,
  "--export",
  exportDir
]

const processInto = (exportDir: string, env: Record<string, string>) => runCli(processArgs(exportDir), env)

beforeAll(async () => {
  db = await freshDatabase({ migrate: false })
  workload = await writeWorkload(1500)
})
afterAll(async () => {
  await db?.drop()
})

describe("process on PostgreSQL", () => {
  it("exports exactly what the embedded default exports, and a second run writes no new rows", async () => {
    const embedded = await processInto(join(workload.dir, "embedded"), {})
    expect(embedded.code).toBe(0)
    const first = await processInto(join(workload.dir, "pg1"), { DATABASE_URL: db.url })
    expect(first.stderr).not.toContain('"logLevel":"ERROR"')
    expect(first.code).toBe(0)
    const reference = await readExport(join(workload.dir, "embedded"))
    expect(reference.records.length).toBeGreaterThan(1000)
    expect(reference.history.length).toBeGreaterThan(reference.records.length)
    expect(reference.assets.length).toBeGreaterThan(10)
    expect(await readExport(join(workload.dir, "pg1"))).toEqual(reference)

    const before = await rowCounts()
    const second = await processInto(join(workload.dir, "pg2"), { DATABASE_URL: db.url })
    expect(second.code).toBe(0)
    expect(await rowCounts()).toEqual(before)
    const again = await readExport(join(workload.dir, "pg2"))
    // the DLQ of a replay lists the same bad lines; everything else is identical
    expect({ ...again, dlq: [] }).toEqual({ ...reference, dlq: [] })
    expect(again.dlq.filter((l) => !l.includes("out_of_order"))).toEqual(
      reference.dlq.filter((l) => !l.includes("out_of_order"))
    )

    const verified = await runCli(["verify"], { DATABASE_URL: db.url })
    expect(verified.code).toBe(0)
    expect(JSON.parse(verified.stdout).broken).toEqual([])
  })

  it("with Redis in front of PostgreSQL: the same export again", async () => {
    const reference = await readExport(join(workload.dir, "embedded"))
    // the workload exercises the whole vault: lineage from assets and turns, missing fields
    const sources = reference.profile.map((line) => JSON.parse(line).derived_from?.[0] ?? "")
    expect(sources.filter((id: string) => id.startsWith("turn:")).length).toBeGreaterThan(10)
    expect(sources.filter((id: string) => id.includes("-doc-")).length).toBeGreaterThan(10)
    expect(reference.records.filter((line) => line.includes('"missing_fields":[{')).length).toBeGreaterThan(
      50
    )
    const cachedDb = await freshDatabase({ migrate: false })
    const redis = await redisServerProcess()
    try {
      const cached = await processInto(join(workload.dir, "pg-redis"), {
        DATABASE_URL: cachedDb.url,
        REDIS_URL: redis.url
      })
      expect(cached.code).toBe(0)
      expect(await readExport(join(workload.dir, "pg-redis"))).toEqual(reference)
    } finally {
      await redis.stop()
      await cachedDb.drop()
    }
  })

  it("a run killed mid-way and restarted ends in the same rows as a clean run", async () => {
    const crashDb = await freshDatabase()
    try {
      const env = { DATABASE_URL: crashDb.url }
      for (const killAfterMs of [2500, 3500]) {
        const killed = await runCli(processArgs(join(workload.dir, "x")), env, { killAfterMs })
        expect(killed.signal === "SIGKILL" || killed.code === 0).toBe(true)
      }
      const final = await processInto(join(workload.dir, "crash"), env)
      expect(final.code).toBe(0)
      const reference = await readExport(join(workload.dir, "embedded"))
      const crashed = await readExport(join(workload.dir, "crash"))
      expect({ ...crashed, dlq: [] }).toEqual({ ...reference, dlq: [] })
    } finally {
      await crashDb.drop()
    }
  })

  it("history prints a session's ledger in order", async () => {
    const { rows } = await query<{ tenant_id: string; session_id: string }>(
      "SELECT tenant_id, session_id FROM session_history GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1"
    )
    const { tenant_id, session_id } = rows[0]!
    const printed = await runCli(["history", "--tenant", tenant_id, "--session", session_id], {
      DATABASE_URL: db.url
    })
    expect(printed.code).toBe(0)
    const entries = printed.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l))
    expect(entries.length).toBeGreaterThan(1)
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1))
    expect(entries[0]).toMatchObject({ tenant_id, session_id, reason: "created", prev_content_hash: null })
    for (let i = 1; i < entries.length; i++)
      expect(entries[i].prev_content_hash).toBe(entries[i - 1].new_content_hash)
    const none = await runCli(["history", "--tenant", tenant_id, "--session", "no-such-session"], {
      DATABASE_URL: db.url
    })
    expect(none.code).toBe(1)
    expect(none.stderr).toContain("no history for session no-such-session")
  })

  it("verify reports a column edited apart from the hashed content it stands beside", async () => {
    // the queries filter and order by these columns: an edit of one alone must not go unseen
    const { rows } = await query<{ turn_id: string; session_id: string }>(
      "SELECT turn_id, session_id FROM turn_records ORDER BY turn_id DESC LIMIT 3"
    )
    const [late, rehashed, moved] = rows
    const { rows: sessions } = await query<{ session_id: string }>(
      "SELECT session_id FROM sessions WHERE status = 'ACTIVE' ORDER BY session_id LIMIT 1"
    )
    await query(`SET session_replication_role = replica;
                 UPDATE turn_records SET occurred_at = occurred_at - interval '1 day' WHERE turn_id = '${late!.turn_id}';
                 UPDATE turn_records SET hash = repeat('0', 64) WHERE turn_id = '${rehashed!.turn_id}';
                 UPDATE turn_records SET turn_number = turn_number + 1000 WHERE turn_id = '${moved!.turn_id}';
                 UPDATE sessions SET status = 'ENDED' WHERE session_id = '${sessions[0]!.session_id}'`)
    const verified = await runCli(["verify"], { DATABASE_URL: db.url })
    expect(verified.code).toBe(1)
    const broken = JSON.parse(verified.stdout).broken as Array<{ problem: string; session_id: string }>
    const about = (what: string) => broken.filter((b) => b.problem.includes(what))
    expect(about(`turn ${late!.turn_id}: column occurred_at`)).toHaveLength(1)
    expect(about(`turn ${rehashed!.turn_id}: column hash`)).toHaveLength(1)
    expect(about(`turn ${moved!.turn_id}: column turn_number`)).toHaveLength(1)
    expect(about('session: column status is "ENDED" but the hashed content says "ACTIVE"')).toMatchObject([
      { session_id: sessions[0]!.session_id }
    ])
    // put them back, so the other cases see an intact store
    await query(`SET session_replication_role = replica;
                 UPDATE turn_records SET occurred_at = (record->>'occurred_at')::timestamptz, hash = record->>'hash',
                   turn_number = (record->>'turn_number')::int
                 WHERE turn_id IN ('${late!.turn_id}', '${rehashed!.turn_id}', '${moved!.turn_id}');
                 UPDATE sessions SET status = state->>'status' WHERE session_id = '${sessions[0]!.session_id}'`)
    const again = await runCli(["verify"], { DATABASE_URL: db.url })
    expect(
      JSON.parse(again.stdout).broken.filter((b: { problem: string }) => b.problem.includes("column"))
    ).toEqual([])
  })

  it("verify reports a turn record or a session state edited behind the service's back", async () => {
    // the audit tables refuse UPDATE; an attacker with superuser rights can bypass the triggers
    const {
      rows: [edited]
    } = await query<{ turn_id: string; session_id: string }>(
      "SELECT turn_id, session_id FROM turn_records ORDER BY turn_id LIMIT 1"
    )
    await query(`SET session_replication_role = replica;
                 UPDATE turn_records SET record = jsonb_set(record, '{turn_number}', '999')
                 WHERE turn_id = '${edited!.turn_id}'`)
    await query(`UPDATE sessions SET state = jsonb_set(state, '{turn_count}', '12345')
                 WHERE session_id = (SELECT session_id FROM sessions ORDER BY session_id DESC LIMIT 1)`)
    const verified = await runCli(["verify"], { DATABASE_URL: db.url })
    expect(verified.code).toBe(1)
    const broken = JSON.parse(verified.stdout).broken as Array<{
      problem: string
      session_id: string
      at?: any
    }>
    // it names the record that broke, and says how
    const record = broken.find((b) => b.problem.includes("does not match its hash"))
    expect(record).toMatchObject({
      session_id: edited!.session_id,
      at: { turn_id: edited!.turn_id, turn_number: 999 }
    })
    expect(record?.problem).toMatch(
      /^turn .*: the record does not match its hash \(stored [0-9a-f]{12}, content hashes to [0-9a-f]{12}\)/
    )
    expect(
      broken.some((b) => b.problem.startsWith("session state does not match its content hash (stored"))
    ).toBe(true)
  })

  it("the audit tables refuse UPDATE, DELETE and TRUNCATE through the service's connection", async () => {
    await expect(query("DELETE FROM turn_records")).rejects.toThrow()
    await expect(query("UPDATE session_history SET reason = 'x'")).rejects.toThrow()
    await expect(query("TRUNCATE turn_records")).rejects.toThrow()
  })

  it("definitions import upserts and bumps the version only of changed definitions", async () => {
    const first = await runCli(["definitions", "import", workload.definitions], { DATABASE_URL: db.url })
    expect(JSON.parse(first.stdout)).toMatchObject({ changed: 0 })
    const { writeFile, readFile } = await import("node:fs/promises")
    const defs = JSON.parse(await readFile(workload.definitions, "utf8"))
    defs[0].description = "changed"
    const changedPath = join(workload.dir, "defs-changed.json")
    await writeFile(changedPath, JSON.stringify(defs))
    const second = await runCli(["definitions", "import", changedPath], { DATABASE_URL: db.url })
    expect(JSON.parse(second.stdout)).toMatchObject({ changed: 1 })
    const { rows } = await query(
      "SELECT version FROM field_definitions WHERE tenant_id = $1 AND agent_id = $2 AND name = $3",
      [defs[0].tenant_id, defs[0].agent_id, defs[0].name]
    )
    expect(rows[0].version).toBe(2)
  })
})
