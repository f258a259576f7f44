/**
 * The tamper suite of what `turnvault verify` vouches for today (issue 16), on PostgreSQL: each
 * attack runs as the database superuser with the append-only triggers disabled
 * (`session_replication_role = replica`), on a fresh copy of one processed workload, and verify
 * must exit 1 naming the session attacked. Turn records and the session ledger: edit, delete,
 * insert, reorder, tail truncation; the columns the stores query by. Then what only the signed
 * checkpoints catch (`verify --checkpoints`, decision 0018): a consistent rewrite (every hash
 * recomputed, the state's too) and a session deleted whole, both of which plain verify passes,
 * erasure receipts deleted or rewritten consistently, and attacks on the checkpoints themselves. Not here, because nothing detects them yet: attacks
 * on profile rows and definitions, which have no chain (DESIGN 10).
 */
import { writeFile } from "node:fs/promises"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { TurnRecord } from "../../schemas"
import { newKeyPair } from "../../src/domain/checkpoint"
import { type ErasureReceipt, receiptHash } from "../../src/domain/erasure"
import type { SessionState } from "../../src/domain/model"
import { contentHash } from "../../src/domain/session"
import { recordHash } from "../../src/domain/turnRecord"
import { runCli, writeWorkload } from "../support/cli"
import { freshDatabase, queryRows as query, type TestDatabase } from "../support/postgres"

let workload: Awaited<ReturnType<typeof writeWorkload>>
const databases: Array<TestDatabase> = []

const processInto = async (url: string, input: string) => {
  const run = await runCli(
    [
      "process",
      "--definitions",
      workload.definitions,
      "--input",
      input,
      "--export",
      `${workload.dir}/${databases.length}-${Math.random().toString(36).slice(2)}`
    ],
    { DATABASE_URL: url }
  )
  expect(run.code, run.stderr).toBe(0)
}

/** A database holding the processed workload. */
const processed = async () => {
  const db = await freshDatabase({ migrate: false })
  databases.push(db)
  await processInto(db.url, workload.input)
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

const keys = newKeyPair()
const signing = { TURNVAULT_CHECKPOINT_KEY: keys.private_key }

/**
 * A database holding the workload in two halves, with a signed checkpoint after each: the second
 * covers what the second half moved.
 */
const checkpointed = async () => {
  const db = await freshDatabase({ migrate: false })
  databases.push(db)
  const half = Math.floor(workload.events.length / 2)
  const halves = [workload.events.slice(0, half), workload.events.slice(half)]
  for (const [i, events] of halves.entries()) {
    const input = `${workload.dir}/half-${databases.length}-${i}.jsonl`
    await writeFile(input, `${events.join("\n")}\n`)
    await processInto(db.url, input)
    // an erasure in each half: the tenant's receipts are checkpointed too
    const [{ tenant_id, customer_id }] = (await query<{ tenant_id: string; customer_id: string }>(
      db.url,
      `SELECT tenant_id, customer_id FROM sessions ORDER BY tenant_id, customer_id LIMIT 1 OFFSET ${i}`
    )) as [{ tenant_id: string; customer_id: string }]
    const erased = await runCli(["erase", "--tenant", tenant_id, "--customer", customer_id, "--by", "dpo"], {
      DATABASE_URL: db.url
    })
    expect(erased.code, erased.stderr).toBe(0)
    const run = await runCli(["checkpoints", "write"], { DATABASE_URL: db.url, ...signing })
    expect(run.code, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ written: true, seq: i + 1 })
  }
  return db
}

const verifyCheckpoints = async (url: string, env: Record<string, string> = signing) => {
  const run = await runCli(["verify", "--checkpoints"], { DATABASE_URL: url, ...env })
  const report = JSON.parse(run.stdout) as {
    broken: Array<{ session_id: string; problem: string }>
    checkpoints: { checked: number; broken: Array<{ seq: number; session_id?: string; problem: string }> }
  }
  return { code: run.code, report }
}

/**
 * Rewrites a session's turn records consistently: one record edited, every hash from it on
 * recomputed and re-linked, and the state, its content hash and the ledger's last entry made to
 * agree, so that every check plain verify makes passes.
 */
const rewriteConsistently = async (url: string, session: string) => {
  const rows = await query<{ turn_id: string; record: TurnRecord }>(
    url,
    `SELECT turn_id, record FROM turn_records WHERE session_id = '${session}' ORDER BY turn_number`
  )
  let prev: string | null = null
  const statements: Array<string> = []
  for (const [i, row] of rows.entries()) {
    const edited: TurnRecord = {
      ...row.record,
      ...(i === 1 ? { canonical_intent: "rewritten_by_hand" } : {}),
      prev_hash: prev
    }
    const record = { ...edited, hash: recordHash(edited) }
    prev = record.hash
    statements.push(
      `UPDATE turn_records SET record = '${JSON.stringify(record).replaceAll("'", "''")}'::jsonb, hash = '${record.hash}', prev_hash = ${record.prev_hash === null ? "NULL" : `'${record.prev_hash}'`} WHERE session_id = '${session}' AND turn_id = '${row.turn_id}'`
    )
  }
  const [{ state }] = (await query<{ state: SessionState }>(
    url,
    `SELECT state FROM sessions WHERE session_id = '${session}'`
  )) as [{ state: SessionState }]
  const forged = { ...state, last_record_hash: prev }
  const hash = contentHash(forged)
  statements.push(
    `UPDATE sessions SET state = '${JSON.stringify(forged).replaceAll("'", "''")}'::jsonb, content_hash = '${hash}' WHERE session_id = '${session}'`,
    `UPDATE session_history SET new_content_hash = '${hash}' WHERE session_id = '${session}' AND seq = (SELECT max(seq) FROM session_history WHERE session_id = '${session}')`
  )
  await query(url, `SET session_replication_role = replica; ${statements.join("; ")}`)
}

const CHECKPOINT_ATTACKS: ReadonlyArray<
  readonly [string, (url: string, session: string) => Promise<unknown>]
> = [
  ["a consistent rewrite of a session's chain", rewriteConsistently],
  [
    "a session deleted whole (state, records, ledger)",
    (url, s) =>
      query(
        url,
        `SET session_replication_role = replica; DELETE FROM turn_records WHERE session_id = '${s}'; DELETE FROM session_history WHERE session_id = '${s}'; DELETE FROM sessions WHERE session_id = '${s}'`
      )
  ]
]

describe("tamper suite: what only the signed checkpoints catch", () => {
  it("a checkpointed workload verifies clean, with and without --checkpoints", async () => {
    const db = await checkpointed()
    const { code, report } = await verifyCheckpoints(db.url)
    expect(report.broken).toEqual([])
    expect(report.checkpoints.checked).toBe(2)
    expect(report.checkpoints.broken).toEqual([])
    expect(code).toBe(0)
  }, 180_000)

  it.each(CHECKPOINT_ATTACKS)(
    "%s: plain verify passes, verify --checkpoints names the session",
    async (_, attack) => {
      const db = await checkpointed()
      const { session_id } = await target(db.url)
      await attack(db.url, session_id)
      expect(await verify(db.url)).toEqual({ code: 0, broken: [] })
      const { code, report } = await verifyCheckpoints(db.url)
      expect(code).toBe(1)
      expect(
        report.checkpoints.broken.filter((b) => b.session_id === session_id).length,
        JSON.stringify(report.checkpoints.broken)
      ).toBeGreaterThan(0)
    },
    180_000
  )

  it("erasure receipts: the newest deleted, plain verify passes, verify --checkpoints sees it", async () => {
    const db = await checkpointed()
    await query(
      db.url,
      "SET session_replication_role = replica; DELETE FROM erasure_receipts WHERE (tenant_id, seq) IN (SELECT tenant_id, max(seq) FROM erasure_receipts GROUP BY tenant_id)"
    )
    expect((await verify(db.url)).code).toBe(0)
    const { code, report } = await verifyCheckpoints(db.url)
    expect(code).toBe(1)
    expect(report.checkpoints.broken.map((b) => b.problem).join("\n")).toMatch(/receipts were deleted/)
  }, 180_000)

  it("erasure receipts: an edited receipt is caught by plain verify, a consistent rewrite by the checkpoints", async () => {
    const db = await checkpointed()
    const [last] = (await query<ErasureReceipt>(
      db.url,
      "SELECT tenant_id, seq, customer_id, erased_at, erased_by, reason, key_versions, prev_hash, hash FROM erasure_receipts ORDER BY recorded_at DESC, seq DESC LIMIT 1"
    )) as [ErasureReceipt]
    await query(
      db.url,
      `SET session_replication_role = replica; UPDATE erasure_receipts SET erased_by = 'mallory' WHERE tenant_id = '${last.tenant_id}' AND seq = ${last.seq}`
    )
    const edited = await runCli(["verify"], { DATABASE_URL: db.url })
    expect(edited.code).toBe(1)
    expect(JSON.parse(edited.stdout).erasures.broken[0].problem).toContain("changed")
    // now consistently: its hash recomputed, the receipts chain verifies on its own
    const { hash: _old, ...body } = { ...last, erased_by: "mallory" }
    await query(
      db.url,
      `SET session_replication_role = replica; UPDATE erasure_receipts SET hash = '${receiptHash(body)}' WHERE tenant_id = '${last.tenant_id}' AND seq = ${last.seq}`
    )
    expect((await verify(db.url)).code).toBe(0)
    const { code, report } = await verifyCheckpoints(db.url)
    expect(code).toBe(1)
    expect(report.checkpoints.broken.map((b) => b.problem).join("\n")).toMatch(
      /erasure receipt \d+ .*rewritten/
    )
  }, 180_000)

  it.each([
    [
      "delete the first checkpoint",
      "DELETE FROM audit_checkpoints WHERE seq = 1",
      /checkpoint 1 was deleted/
    ],
    [
      "drop a head from a checkpoint",
      "UPDATE audit_checkpoints SET heads = heads - 0 WHERE seq = 2",
      /do not build the signed root/
    ],
    [
      "edit a checkpoint's root",
      `UPDATE audit_checkpoints SET body = jsonb_set(body, '{root}', to_jsonb(repeat('0', 64))) WHERE seq = 2`,
      /signature does not verify/
    ]
  ] as const)(
    "checkpoint: %s",
    async (_, attack, expected) => {
      const db = await checkpointed()
      await query(db.url, `SET session_replication_role = replica; ${attack}`)
      const { code, report } = await verifyCheckpoints(db.url)
      expect(code).toBe(1)
      expect(report.checkpoints.broken.map((b) => b.problem).join("\n")).toMatch(expected)
    },
    180_000
  )

  it("a proof of a checkpointed turn verifies with the public key alone, and fails once edited", async () => {
    const db = await checkpointed()
    const [{ tenant_id, turn_id }] = (await query<{ tenant_id: string; turn_id: string }>(
      db.url,
      "SELECT tenant_id, turn_id FROM turn_records ORDER BY recorded_at, turn_id LIMIT 1"
    )) as [{ tenant_id: string; turn_id: string }]
    const proved = await runCli(["prove", "--tenant", tenant_id, "--turn", turn_id], {
      DATABASE_URL: db.url,
      ...signing
    })
    expect(proved.code, proved.stderr).toBe(0)
    const proofFile = `${workload.dir}/proof-${turn_id}.json`
    const publicKeyFile = `${workload.dir}/checkpoint-key.pub`
    await writeFile(proofFile, proved.stdout)
    await writeFile(publicKeyFile, keys.public_key_pem)
    // no database, no signing key: the proof file and the public key only
    const checked = await runCli(["verify-proof", "--proof", proofFile, "--public-key", publicKeyFile], {})
    expect(checked.code, checked.stderr).toBe(0)
    expect(JSON.parse(checked.stdout)).toMatchObject({ valid: true, tenant_id, turn_id, problems: [] })
    const proof = JSON.parse(proved.stdout)
    proof.records[0].outcome.resolution = "UNRESOLVED"
    await writeFile(proofFile, JSON.stringify(proof))
    const edited = await runCli(["verify-proof", "--proof", proofFile, "--public-key", publicKeyFile], {})
    expect(edited.code).toBe(1)
    expect(JSON.parse(edited.stdout).problems[0]).toContain("does not hash")
  }, 180_000)
})
