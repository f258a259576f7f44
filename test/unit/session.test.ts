import { createHash } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import type { SessionEnded } from "../../schemas"
import type { DataEntry, SessionRecord, SessionState } from "../../src/domain/model"
import {
  type AppliedTurn,
  type SessionIdentity,
  type Transition,
  applyTurn,
  closeCase,
  contentHash,
  endSession,
  ledgerEntryHash
} from "../../src/domain/session"

const IDENTITY: SessionIdentity = { tenant_id: "t1", session_id: "s1", customer_id: "c1", agent_id: "a1" }

const at = (minute: number) => new Date(Date.UTC(2024, 4, 1, 10, minute)).toISOString()

const mood: DataEntry = {
  value: "calm",
  source: "USER",
  confidence: 1,
  updated_at: at(0),
  source_item_id: "turn-1",
  scope: "SESSION",
  history: []
}

const turn = (n: number, overrides: Partial<AppliedTurn> = {}): AppliedTurn => ({
  turn_id: `turn-${n}`,
  turn_number: n,
  occurred_at: at(n),
  record_hash: `record-hash-${n}`,
  variables: {},
  lifecycle: { active_scenario_id: "refund", current_step_id: `step-${n}`, canonical_intent: "refund" },
  ...overrides
})

const ended = (reason: SessionEnded["reason"], eventId = `end-${reason}`): SessionEnded => ({
  schema_version: 1,
  event_type: "session.ended",
  event_id: eventId,
  tenant_id: "t1",
  agent_id: "a1",
  session_id: "s1",
  customer_id: "c1",
  occurred_at: at(30),
  reason
})

/** Independent canonical JSON: sorted keys, `undefined` members dropped. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v
  )
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

/** Applies events in order, returning every transition. */
const sequence = (
  events: ReadonlyArray<AppliedTurn | SessionEnded>,
  cleanup = true
): ReadonlyArray<Transition> => {
  const out: Array<Transition> = []
  let record: SessionRecord | null = null
  for (const event of events) {
    const next: Transition =
      "event_type" in event
        ? endSession(record!, event, event.occurred_at, cleanup)
        : applyTurn(record, IDENTITY, event)
    out.push(next)
    record = next.record
  }
  return out
}

describe("first turn", () => {
  it("creates an ACTIVE session with seq 1, ledger reason `created` and no previous hash", () => {
    const { record, history } = applyTurn(null, IDENTITY, turn(1, { variables: { mood } }))
    expect(record.state).toStrictEqual({
      ...IDENTITY,
      status: "ACTIVE",
      turn_count: 1,
      last_turn_number: 1,
      last_event_key: "turn-1",
      gaps: 0,
      variables: { mood },
      last_record_hash: "record-hash-1",
      history_seq: 1,
      version: 1,
      updated_at: at(1),
      ended_event_ids: [],
      lifecycle: { active_scenario_id: "refund", current_step_id: "step-1", canonical_intent: "refund" },
      ledger_head: history.entry_hash
    })
    expect(history).toStrictEqual({
      tenant_id: "t1",
      session_id: "s1",
      seq: 1,
      event_key: "turn-1",
      turn_id: "turn-1",
      prev_content_hash: null,
      new_content_hash: record.content_hash,
      from_status: null,
      to_status: "ACTIVE",
      actor: "turnvault",
      reason: "created",
      occurred_at: at(1),
      entry_hash: ledgerEntryHash(history, null)
    })
  })
})

describe("turns", () => {
  it("a next turn appends a `turn` entry chained to the previous content hash", () => {
    const [first, second] = sequence([turn(1), turn(2)])
    expect(second?.history).toMatchObject({
      seq: 2,
      event_key: "turn-2",
      turn_id: "turn-2",
      prev_content_hash: first?.record.content_hash,
      new_content_hash: second?.record.content_hash,
      from_status: "ACTIVE",
      to_status: "ACTIVE",
      reason: "turn"
    })
    expect(second?.record.state).toMatchObject({
      turn_count: 2,
      last_turn_number: 2,
      last_event_key: "turn-2",
      last_record_hash: "record-hash-2",
      history_seq: 2,
      version: 2,
      updated_at: at(2)
    })
    expect(second?.record.content_hash).not.toBe(first?.record.content_hash)
  })

  it("the turn's variables replace the session's variables", () => {
    const [, second] = sequence([turn(1, { variables: { mood } }), turn(2, { variables: {} })])
    expect(second?.record.state.variables).toStrictEqual({})
  })

  it("counts each gap in turn numbers and accepts the turn", () => {
    const transitions = sequence([turn(1), turn(2), turn(5), turn(6), turn(9)])
    expect(transitions.map((t) => t.record.state.gaps)).toStrictEqual([0, 0, 1, 1, 2])
    expect(transitions.at(-1)?.record.state).toMatchObject({ turn_count: 5, last_turn_number: 9 })
  })

  it("a first turn numbered above 1 counts the missing turns as one gap", () => {
    expect(applyTurn(null, IDENTITY, turn(3)).record.state.gaps).toBe(1)
  })
})

describe("end and reopen", () => {
  it.each(["ENDED", "ABANDONED"] as const)(
    "session.ended %s sets the status and appends a ledger entry",
    (reason) => {
      const [started, end] = sequence([turn(1, { variables: { mood } }), ended(reason)])
      expect(end?.record.state).toMatchObject({
        status: reason,
        turn_count: 1,
        last_turn_number: 1,
        last_event_key: `end-${reason}`,
        last_record_hash: "record-hash-1",
        history_seq: 2,
        version: 2,
        updated_at: at(30),
        ended_event_ids: [`end-${reason}`]
      })
      expect(end?.history).toStrictEqual({
        tenant_id: "t1",
        session_id: "s1",
        seq: 2,
        event_key: `end-${reason}`,
        turn_id: null,
        prev_content_hash: started?.record.content_hash,
        new_content_hash: end?.record.content_hash,
        from_status: "ACTIVE",
        to_status: reason,
        actor: "turnvault",
        reason,
        occurred_at: at(30),
        // the ledger's own chain: this entry's contents and the entry before it
        entry_hash: ledgerEntryHash(end!.history, started!.history.entry_hash)
      })
      expect(end?.record.state.ledger_head).toBe(end?.history.entry_hash)
    }
  )

  it("clears the session variables when cleanup is on", () => {
    const [, end] = sequence([turn(1, { variables: { mood } }), ended("ENDED")], true)
    expect(end?.record.state.variables).toStrictEqual({})
  })

  it("keeps the session variables when cleanup is off", () => {
    const [, end] = sequence([turn(1, { variables: { mood } }), ended("ENDED")], false)
    expect(end?.record.state.variables).toStrictEqual({ mood })
  })

  it("a turn after the end reopens the session", () => {
    const [, end, reopened] = sequence([turn(1), ended("ABANDONED"), turn(2)])
    expect(reopened?.record.state).toMatchObject({
      status: "ACTIVE",
      turn_count: 2,
      history_seq: 3,
      version: 3
    })
    expect(reopened?.history).toMatchObject({
      seq: 3,
      reason: "reopened",
      from_status: "ABANDONED",
      to_status: "ACTIVE",
      prev_content_hash: end?.record.content_hash,
      turn_id: "turn-2"
    })
    // The ended event stays remembered so that its redelivery remains a no-op.
    expect(reopened?.record.state.ended_event_ids).toStrictEqual(["end-ABANDONED"])
  })

  it("keeps the last turn's lifecycle: a new turn replaces it, an end leaves it", () => {
    const [, second, end] = sequence([
      turn(1),
      turn(2, { lifecycle: { active_scenario_id: null, current_step_id: null, canonical_intent: "bye" } }),
      ended("ENDED")
    ])
    const expected = { active_scenario_id: null, current_step_id: null, canonical_intent: "bye" }
    expect(second?.record.state.lifecycle).toStrictEqual(expected)
    expect(end?.record.state.lifecycle).toStrictEqual(expected)
  })

  it("remembers a bounded number of session.ended event ids, the most recent ones", () => {
    const events = [turn(1), ...Array.from({ length: 20 }, (_, i) => ended("ENDED", `end-${i}`))]
    const ids = sequence(events).at(-1)?.record.state.ended_event_ids
    expect(ids).toHaveLength(16)
    expect(ids?.at(0)).toBe("end-4")
    expect(ids?.at(-1)).toBe("end-19")
  })
})

describe("case closed", () => {
  const draft: DataEntry = { ...mood, value: "d", scope: "CASE", case_id: "k1" }
  it("takes the case's session-only values out with a ledger entry, and is a no-op without them", () => {
    const [started] = sequence([turn(1, { variables: { mood, draft } })])
    const closed = closeCase(started!.record, "close-1", "k1", at(5))
    expect(closed?.record.state).toMatchObject({
      variables: { mood },
      status: "ACTIVE",
      last_event_key: "close-1",
      history_seq: 2,
      version: 2,
      updated_at: at(5)
    })
    expect(closed?.history).toMatchObject({
      seq: 2,
      event_key: "close-1",
      turn_id: null,
      reason: "case_closed",
      from_status: "ACTIVE",
      to_status: "ACTIVE",
      prev_content_hash: started!.record.content_hash,
      new_content_hash: closed?.record.content_hash
    })
    expect(closeCase(closed!.record, "close-2", "k1", at(6))).toBeNull()
    expect(closeCase(started!.record, "close-3", "other", at(6))).toBeNull()
  })
})

describe("content hash and version", () => {
  const state = applyTurn(null, IDENTITY, turn(1, { variables: { mood } })).record.state

  it("is the SHA-256 of the canonical JSON of the state", () => {
    const expected = sha256(canonical(state))
    expect(contentHash(state)).toBe(expected)
    expect(applyTurn(null, IDENTITY, turn(1, { variables: { mood } })).record.content_hash).toBe(expected)
  })

  it("does not depend on the key order of the state", () => {
    const reversed = Object.fromEntries(Object.entries(state).reverse()) as unknown as SessionState
    expect(contentHash(reversed)).toBe(contentHash(state))
  })

  it("changes when any field of the state changes", () => {
    const changed: Record<keyof SessionState, unknown> = {
      tenant_id: "t2",
      session_id: "s2",
      customer_id: "c2",
      agent_id: "a2",
      status: "ENDED",
      turn_count: 2,
      last_turn_number: 2,
      last_event_key: null,
      gaps: 1,
      variables: { mood: { ...mood, value: "angry" } },
      last_record_hash: null,
      history_seq: 2,
      version: 2,
      updated_at: at(59),
      ended_event_ids: ["end-1"],
      lifecycle: { active_scenario_id: null, current_step_id: null, canonical_intent: null },
      ledger_head: "0".repeat(64)
    }
    expect(Object.keys(changed).sort()).toStrictEqual(Object.keys(state).sort())
    const original = contentHash(state)
    for (const [key, value] of Object.entries(changed)) {
      expect({ key, hash: contentHash({ ...state, [key]: value }) }).not.toStrictEqual({
        key,
        hash: original
      })
    }
  })

  it("version and ledger seq increase by exactly 1 per event", () => {
    const transitions = sequence([
      turn(1),
      turn(2),
      ended("ENDED"),
      turn(3),
      ended("ABANDONED", "end-2"),
      turn(4)
    ])
    expect(transitions.map((t) => t.record.state.version)).toStrictEqual([1, 2, 3, 4, 5, 6])
    expect(transitions.map((t) => t.history.seq)).toStrictEqual([1, 2, 3, 4, 5, 6])
    expect(transitions.map((t) => t.history.reason)).toStrictEqual([
      "created",
      "turn",
      "ENDED",
      "reopened",
      "ABANDONED",
      "reopened"
    ])
    transitions.forEach((t, i) => {
      expect(t.history.new_content_hash).toBe(t.record.content_hash)
      expect(t.history.prev_content_hash).toBe(i === 0 ? null : transitions[i - 1]?.record.content_hash)
    })
  })
})
