/**
 * The session ledger's own chain (issue 16): `checkSession` finds an edited entry (its reason,
 * actor, status or turn), an entry appended behind the state, a cut tail, and the ledger of a
 * state written before entry hashes were kept still verifies. Turn records are left out (no
 * chain): only ledger problems are looked at.
 */
import { describe, expect, it } from "@effect/vitest"
import { checkSession } from "../../src/domain/integrity"
import type { SessionHistoryEntry, SessionRecord } from "../../src/domain/model"
import { type AppliedTurn, applyTurn, contentHash, ledgerEntryHash } from "../../src/domain/session"

const IDENTITY = { tenant_id: "t1", session_id: "s1", customer_id: "c1", agent_id: "a1" }
const at = (minute: number) => new Date(Date.UTC(2024, 4, 1, 10, minute)).toISOString()
const turn = (n: number): AppliedTurn => ({
  turn_id: `turn-${n}`,
  turn_number: n,
  occurred_at: at(n),
  record_hash: `record-${n}`,
  variables: {},
  lifecycle: { active_scenario_id: null, current_step_id: null, canonical_intent: null }
})

/** Three turns: the stored state and its ledger. */
const session = () => {
  let record: SessionRecord | null = null
  const entries: Array<SessionHistoryEntry> = []
  for (const n of [1, 2, 3]) {
    const next = applyTurn(record, IDENTITY, turn(n))
    record = next.record
    entries.push(next.history)
  }
  return { record: record!, entries }
}

const ledgerProblems = (record: SessionRecord, entries: ReadonlyArray<SessionHistoryEntry>) =>
  checkSession(record.state, record.content_hash, [], entries)
    .map((p) => p.problem)
    .filter((p) => p.startsWith("ledger"))

describe("the session ledger's chain", () => {
  it("an intact ledger has no problem", () => {
    const { record, entries } = session()
    expect(ledgerProblems(record, entries)).toEqual([])
  })

  it.each([
    ["reason", { reason: "reopened" }],
    ["actor", { actor: "mallory" }],
    ["to_status", { to_status: "ENDED" as const }],
    ["turn_id", { turn_id: "turn-99" }]
  ])("an entry whose %s was edited is found", (_, edit) => {
    const { record, entries } = session()
    const edited = entries.map((e) => (e.seq === 2 ? { ...e, ...edit } : e))
    expect(ledgerProblems(record, edited)).toEqual([
      expect.stringMatching(/^ledger seq 2 .*does not match its entry_hash/)
    ])
  })

  it("a no-change entry appended behind the state, with a recomputed hash, is found", () => {
    const { record, entries } = session()
    const last = entries.at(-1)!
    const body = {
      ...last,
      seq: 4,
      event_key: "forged",
      turn_id: null,
      prev_content_hash: last.new_content_hash,
      from_status: last.to_status,
      reason: "turn"
    }
    const forged = {
      ...body,
      new_content_hash: record.content_hash,
      entry_hash: ledgerEntryHash(body, last.entry_hash)
    }
    expect(ledgerProblems(record, [...entries, forged])).toEqual([
      "ledger length mismatch: the state counts 3 entries, the ledger ends at seq 4",
      expect.stringMatching(/^ledger head mismatch/)
    ])
  })

  it("a cut tail is found", () => {
    const { record, entries } = session()
    expect(ledgerProblems(record, entries.slice(0, 2))).toContain(
      "ledger length mismatch: the state counts 3 entries, the ledger ends at seq 2"
    )
  })

  it("a ledger written before entry hashes were kept still verifies, and chains on from there", () => {
    const { entries } = session()
    const legacy = entries.slice(0, 2).map((e) => ({ ...e, entry_hash: null }))
    // the state of seq 2 as written then: no ledger_head
    const { ledger_head: _, ...before } = applyTurn(
      applyTurn(null, IDENTITY, turn(1)).record,
      IDENTITY,
      turn(2)
    ).record.state
    const old: SessionRecord = { state: before, content_hash: contentHash(before) }
    const rechained = legacy.map((e, i) => (i === 1 ? { ...e, new_content_hash: old.content_hash } : e))
    expect(ledgerProblems(old, rechained)).toEqual([])
    const next = applyTurn(old, IDENTITY, turn(3))
    expect(ledgerProblems(next.record, [...rechained, next.history])).toEqual([])
    expect(next.history.entry_hash).toBe(ledgerEntryHash(next.history, null))
  })
})
