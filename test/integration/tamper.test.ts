/**
 * The tamper suite of what `turnvault verify` vouches for today (issue 16), on PostgreSQL: each
 * attack runs as the database superuser with the append-only triggers disabled
 * (`session_replication_role = replica`), on a fresh copy of one processed workload, and verify
 * must exit 1 naming the session attacked. Turn records and the session ledger: edit, delete,
 * insert, reorder, tail truncation; the columns the stores query by. Not here, because nothing
 * detects them yet: a consistent rewrite (every later hash recomputed, the state's too), which
 * needs the signed checkpoints, and attacks on profile rows and definitions, which have no chain
 * (DESIGN 10).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runCli, writeWorkload } from "../support/cli"
import { freshDatabase, queryRows as query, type TestDatabase } from "../support/postgres"

let workload: Awaited<ReturnType<typeof writeWorkload>>
const databases: Array<TestDatabase> = []

/** A database holding the processed workload. */
const processed = async () => {
  const db = await freshDatabase({ migrate: false })
  databases.push(db)
  const run = await runCli(
    [
      "process",
      "--definitions",
      workload.definitions,
      "--input",
      workload.input,
      "--export",
      `${workload.dir}/${databases.length}`
    ],
    { DATABASE_URL: db.url }
  )
  expect(run.code, run.stderr).toBe(0)
  return db
}

/** The session with the most turn records and ledger entries: the one attacked. */
const target = async (url: string) =>
  (
    await query<{ session_id: string; n: number }>(
      url,
      "SELECT session_id, count(*)::int AS n FROM turn_records GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
    )
  )[0]!

const verify = async (url: string) => {
  const run = await runCli(["verify"], { DATABASE_URL: url })
  return {
    code: run.code,
    broken: JSON.parse(run.stdout).broken as Array<{ session_id: string; problem: string }>
  }
}

const ATTACKS: ReadonlyArray<readonly [string, (session: string) => string]> = [
  [
    "turn record: edit its outcome",
    (s) =>
      `UPDATE turn_records SET record = jsonb_set(record, '{outcome,resolution}', '"EDITED_BY_HAND"') WHERE session_id = '${s}' AND turn_number = 2`
  ],
  [
    "turn record: delete one in the middle",
    (s) => `DELETE FROM turn_records WHERE session_id = '${s}' AND turn_number = 2`
  ],
  [
    "turn record: insert a forged copy",
    (s) =>
      `INSERT INTO turn_records (tenant_id, turn_id, session_id, turn_number, record, prev_hash, hash, occurred_at)
       SELECT tenant_id, turn_id || '-forged', session_id, turn_number, jsonb_set(record, '{turn_id}', to_jsonb(turn_id || '-forged')), prev_hash, hash, occurred_at
       FROM turn_records WHERE session_id = '${s}' AND turn_number = 2`
  ],
  [
    "turn record: reorder two (swap their turn numbers)",
    (s) =>
      `UPDATE turn_records SET turn_number = CASE turn_number WHEN 1 THEN 2 ELSE 1 END WHERE session_id = '${s}' AND turn_number IN (1, 2)`
  ],
  [
    "turn record: cut the tail",
    (s) =>
      `DELETE FROM turn_records WHERE session_id = '${s}' AND turn_number = (SELECT max(turn_number) FROM turn_records WHERE session_id = '${s}')`
  ],
  [
    "turn record: move occurred_at",
    (s) =>
      `UPDATE turn_records SET occurred_at = occurred_at + interval '1 hour' WHERE session_id = '${s}' AND turn_number = 1`
  ],
  [
    "ledger: edit an entry's reason",
    (s) => `UPDATE session_history SET reason = 'reopened' WHERE session_id = '${s}' AND seq = 2`
  ],
  [
    "ledger: edit an entry's actor",
    (s) => `UPDATE session_history SET actor = 'mallory' WHERE session_id = '${s}' AND seq = 1`
  ],
  ["ledger: delete an entry", (s) => `DELETE FROM session_history WHERE session_id = '${s}' AND seq = 2`],
  [
    "ledger: append a no-change entry",
    (s) =>
      `INSERT INTO session_history (tenant_id, session_id, seq, event_key, turn_id, prev_content_hash, new_content_hash, from_status, to_status, actor, reason, occurred_at, entry_hash)
       SELECT tenant_id, session_id, seq + 1, 'forged', NULL, new_content_hash, new_content_hash, to_status, to_status, actor, 'turn', occurred_at, entry_hash
       FROM session_history WHERE session_id = '${s}' ORDER BY seq DESC LIMIT 1`
  ],
  [
    "ledger: cut the tail",
    (s) =>
      `DELETE FROM session_history WHERE session_id = '${s}' AND seq = (SELECT max(seq) FROM session_history WHERE session_id = '${s}')`
  ],
  [
    "session: change its status column",
    (s) =>
      `UPDATE sessions SET status = CASE status WHEN 'ACTIVE' THEN 'ENDED' ELSE 'ACTIVE' END WHERE session_id = '${s}'`
  ],
  [
    "session: edit its state",
    (s) => `UPDATE sessions SET state = jsonb_set(state, '{turn_count}', '0') WHERE session_id = '${s}'`
  ]
]

beforeAll(async () => {
  workload = await writeWorkload(600)
}, 120_000)

afterAll(async () => {
  await Promise.all(databases.map((db) => db.drop()))
})

describe("tamper suite: every attack on what verify vouches for is detected", () => {
  it("the processed workload verifies clean", async () => {
    const db = await processed()
    expect(await verify(db.url)).toEqual({ code: 0, broken: [] })
  }, 120_000)

  it.each(ATTACKS)(
    "%s",
    async (_, attack) => {
      const db = await processed()
      const { session_id } = await target(db.url)
      await query(db.url, `SET session_replication_role = replica; ${attack(session_id)}`)
      const result = await verify(db.url)
      expect(result.code).toBe(1)
      expect(
        result.broken.filter((b) => b.session_id === session_id).length,
        JSON.stringify(result.broken)
      ).toBeGreaterThan(0)
    },
    120_000
  )
})
