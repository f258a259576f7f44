import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { CaseClosed, SessionEnded, TurnCompleted, TurnRecord, VariableSource } from "../../schemas"
import { CustomerSnapshot, SessionActor } from "../../src/sessions/SessionActor"
import { deepEqual } from "../../src/domain/deepEqual"
import { type DataEntry, type Definitions, newRows } from "../../src/domain/model"
import { recordHash } from "../../src/domain/turnRecord"
import { fieldDef, SETTINGS } from "../support/actors"

const def = fieldDef

const DEFINITIONS: Definitions = new Map(
  [
    def("plan"),
    def("email", { value_type: "email", scope: "IDENTITY" }),
    def("order", { scope: "CASE" }),
    def("mood", { scope: "SESSION" }),
    def("draft", { persist: false }),
    def("age", { value_type: "integer", validation: { min: 0, max: 150 } }),
    def("prefs", { value_type: "json", validation_mode: "warn" })
  ].map((d) => [d.name, d])
)

const at = (second: number) => new Date(Date.UTC(2024, 4, 1, 10, 0, second)).toISOString()

const turn = (n: number, overrides: Partial<TurnCompleted> = {}): TurnCompleted => ({
  schema_version: 1,
  event_type: "turn.completed",
  event_id: `event-${n}`,
  tenant_id: "t1",
  agent_id: "a1",
  session_id: "s1",
  customer_id: "c1",
  occurred_at: at(n),
  turn_id: `turn-${n}`,
  turn_number: n,
  user_message: `message ${n}`,
  agent_response: `response ${n}`,
  candidate_variables: {},
  matched_rules: [{ rule_id: "r1" }],
  scenario: null,
  tool_executions: [],
  enforcement: null,
  ...overrides
})

const ended = (eventId: string, reason: SessionEnded["reason"] = "ENDED"): SessionEnded => ({
  schema_version: 1,
  event_type: "session.ended",
  event_id: eventId,
  tenant_id: "t1",
  agent_id: "a1",
  session_id: "s1",
  customer_id: "c1",
  occurred_at: at(50),
  reason
})

const caseClosed = (caseId: string): CaseClosed => ({
  schema_version: 1,
  event_type: "case.closed",
  event_id: `close-${caseId}`,
  tenant_id: "t1",
  agent_id: "a1",
  session_id: "s1",
  customer_id: "c1",
  occurred_at: at(55),
  case_id: caseId
})

const newActor = (customer = new CustomerSnapshot()) =>
  new SessionActor("t1", "s1", null, customer, DEFINITIONS)

const applied = (actor: SessionActor, event: TurnCompleted) => {
  const decision = actor.handleTurn(event, SETTINGS)
  if (decision.kind !== "applied") throw new Error(`expected ${event.turn_id} to apply, got ${decision.kind}`)
  return decision.effects
}

const snapshot = (actor: SessionActor) => ({
  record: actor.record,
  profile: Object.fromEntries(actor.customer.profile)
})

describe("turn ordering and idempotency", () => {
  it("applies a first turn and creates the session", () => {
    const actor = newActor()
    const effects = applied(actor, turn(1, { candidate_variables: { plan: { value: "gold" } } }))
    expect(actor.record?.state).toMatchObject({ status: "ACTIVE", turn_count: 1, last_turn_number: 1 })
    expect(effects.session).toBe(actor.record)
    expect(effects.history?.reason).toBe("created")
    expect(newRows(effects.profileWrites).map((row) => row.value)).toStrictEqual(["gold"])
    expect(actor.customer.profile.get("plan")?.value).toBe("gold")
    expect(effects.memoryTask).toMatchObject({ turn_id: "turn-1", user_message: "message 1", turn_number: 1 })
  })

  it("a redelivered turn is a duplicate and changes nothing", () => {
    const actor = newActor()
    const first = turn(1, { candidate_variables: { plan: { value: "gold" } } })
    applied(actor, first)
    const before = snapshot(actor)
    expect(actor.handleTurn(first, SETTINGS)).toStrictEqual({ kind: "duplicate" })
    expect(snapshot(actor)).toStrictEqual(before)
  })

  it("an earlier, already applied turn is recognised from the recent turn ids", () => {
    const actor = newActor()
    for (const n of [1, 2, 3]) applied(actor, turn(n))
    expect(actor.handleTurn(turn(2), SETTINGS)).toStrictEqual({ kind: "duplicate" })
  })

  it("a lower turn number with a new turn id asks the audit store, then is out of order or a duplicate", () => {
    const actor = newActor()
    for (const n of [1, 2, 3]) applied(actor, turn(n))
    const before = snapshot(actor)
    const late = turn(2, { turn_id: "turn-2-bis" })
    expect(actor.handleTurn(late, SETTINGS)).toStrictEqual({ kind: "check_audit" })
    const outOfOrder = actor.handleTurn(late, SETTINGS, false)
    expect(outOfOrder.kind).toBe("out_of_order")
    expect(outOfOrder.kind === "out_of_order" && outOfOrder.detail).toContain("3")
    expect(actor.handleTurn(late, SETTINGS, true)).toStrictEqual({ kind: "duplicate" })
    expect(snapshot(actor)).toStrictEqual(before)
  })

  it("an equal turn number with a new turn id is not applied without the audit store's answer", () => {
    const actor = newActor()
    applied(actor, turn(1))
    expect(actor.handleTurn(turn(1, { turn_id: "other" }), SETTINGS)).toStrictEqual({ kind: "check_audit" })
  })

  it("a turn number gap is accepted and counted", () => {
    const actor = newActor()
    applied(actor, turn(1))
    applied(actor, turn(4))
    expect(actor.record?.state).toMatchObject({ gaps: 1, last_turn_number: 4, turn_count: 2 })
  })

  it("normalises occurred_at to UTC with milliseconds", () => {
    const actor = newActor()
    const effects = applied(actor, turn(1, { occurred_at: "2024-05-01T12:00:00+02:00" }))
    expect(effects.record?.occurred_at).toBe("2024-05-01T10:00:00.000Z")
    expect(actor.record?.state.updated_at).toBe("2024-05-01T10:00:00.000Z")
  })
})

describe("session events", () => {
  it("session.ended for an unknown session is ignored and creates nothing", () => {
    const actor = newActor()
    expect(actor.handleEnded(ended("end-1"), SETTINGS)).toStrictEqual({
      kind: "ignored",
      reason: "unknown_session"
    })
    expect(actor.record).toBeNull()
  })

  it("session.ended ends the session and clears session-only variables", () => {
    const actor = newActor()
    applied(actor, turn(1, { candidate_variables: { mood: { value: "calm" }, draft: { value: "d" } } }))
    expect(Object.keys(actor.record?.state.variables ?? {}).sort()).toStrictEqual(["draft", "mood"])
    const decision = actor.handleEnded(ended("end-1", "ABANDONED"), SETTINGS)
    expect(decision.kind).toBe("applied")
    expect(actor.record?.state).toMatchObject({ status: "ABANDONED", variables: {} })
    expect(decision.kind === "applied" && decision.effects.history?.to_status).toBe("ABANDONED")
  })

  it("a duplicate session.ended is ignored", () => {
    const actor = newActor()
    applied(actor, turn(1))
    actor.handleEnded(ended("end-1"), SETTINGS)
    const before = snapshot(actor)
    expect(actor.handleEnded(ended("end-1"), SETTINGS)).toStrictEqual({
      kind: "ignored",
      reason: "duplicate"
    })
    expect(snapshot(actor)).toStrictEqual(before)
  })

  it("a turn after the end reopens the session", () => {
    const actor = newActor()
    applied(actor, turn(1))
    actor.handleEnded(ended("end-1"), SETTINGS)
    const effects = applied(actor, turn(2))
    expect(actor.record?.state.status).toBe("ACTIVE")
    expect(effects.history).toMatchObject({ reason: "reopened", from_status: "ENDED", to_status: "ACTIVE" })
  })

  it("case.closed removes only that case's CASE values from the customer snapshot", () => {
    const customer = new CustomerSnapshot()
    const entry = (value: string, scope: DataEntry["scope"], case_id?: string): DataEntry => ({
      value,
      source: "USER",
      confidence: 1,
      updated_at: at(1),
      source_item_id: "turn-1",
      scope,
      history: [],
      ...(case_id === undefined ? {} : { case_id })
    })
    customer.profile.set("order", entry("o-1", "CASE", "case-A"))
    customer.profile.set("ticket", entry("k-2", "CASE", "case-B"))
    customer.profile.set("claim", entry("x", "CASE"))
    customer.profile.set("plan", entry("gold", "BUSINESS"))
    customer.profile.set("email", entry("a@b.io", "IDENTITY"))
    const actor = newActor(customer)
    const effects = actor.handleCaseClosed(caseClosed("case-A"))
    expect([...customer.profile.keys()].sort()).toStrictEqual(["claim", "email", "plan", "ticket"])
    expect(effects.expireCase).toStrictEqual({ tenant_id: "t1", customer_id: "c1", case_id: "case-A" })
    expect(newRows(effects.profileWrites)).toStrictEqual([])
    expect(effects.record).toBeNull()
  })

  it("case.closed expires CASE values set by turns of that case", () => {
    const actor = newActor()
    applied(
      actor,
      turn(1, { case_id: "case-A", candidate_variables: { order: { value: "o-1" }, plan: { value: "p" } } })
    )
    actor.handleCaseClosed(caseClosed("case-A"))
    expect([...actor.customer.profile.keys()]).toStrictEqual(["plan"])
  })
})

describe("turn records", () => {
  it("chain by hash: record n's prev_hash is record n-1's hash, and each hash is recordHash(record)", () => {
    const actor = newActor()
    const records: Array<TurnRecord> = []
    for (const n of [1, 2, 3, 5]) {
      const record = applied(actor, turn(n)).record
      if (record !== null) records.push(record)
    }
    actor.handleEnded(ended("end-1"), SETTINGS)
    const afterEnd = applied(actor, turn(6)).record
    if (afterEnd !== null) records.push(afterEnd)
    expect(records).toHaveLength(5)
    records.forEach((record, i) => {
      expect(record.prev_hash).toBe(i === 0 ? null : records[i - 1]?.hash)
      expect(recordHash(record)).toBe(record.hash)
    })
    expect(actor.record?.state.last_record_hash).toBe(records.at(-1)?.hash)
  })

  it("a record's hash covers its content", () => {
    const actor = newActor()
    const record = applied(actor, turn(1, { candidate_variables: { plan: { value: "gold" } } })).record!
    expect(recordHash({ ...record, turn_number: 2 })).not.toBe(record.hash)
    expect(recordHash({ ...record, prev_hash: "x" })).not.toBe(record.hash)
    expect(recordHash({ ...record, customer_data_updates: [] })).not.toBe(record.hash)
  })

  it("records the turn's outcome, customer-data updates, rule ids, tool failures and violations", () => {
    const actor = newActor()
    const record = applied(
      actor,
      turn(1, {
        case_id: "case-A",
        canonical_intent: "refund",
        candidate_variables: { plan: { value: "gold" }, age: { value: 999 }, nope: { value: 1 } },
        matched_rules: [{ rule_id: "r1" }, { rule_id: "r2", score: 0.5 }],
        scenario: {
          active_scenario_id: "refund",
          current_step_id: "ask-order",
          awaiting_user_input: false,
          lifecycle_decisions: { refund: "START", upsell: "EXIT" },
          step_transitions: { refund: { from_step: null, to_step: "ask-order", reason: "entry" } }
        },
        tool_executions: [
          { tool_id: "a", success: false, error: "timeout", duration_ms: 1200 },
          { tool_id: "b", success: true, duration_ms: 15 }
        ],
        enforcement: { violations: ["pii"], blocked: true, regeneration_attempts: 1 }
      })
    ).record
    expect(record).toMatchObject({
      tenant_id: "t1",
      agent_id: "a1",
      session_id: "s1",
      customer_id: "c1",
      case_id: "case-A",
      turn_id: "turn-1",
      turn_number: 1,
      occurred_at: at(1),
      canonical_intent: "refund",
      outcome: {
        resolution: "UNRESOLVED",
        categories: [{ category: "SYSTEM_ERROR" }, { category: "POLICY_RESTRICTION" }]
      },
      matched_rule_ids: ["r1", "r2"],
      tool_failures: 1,
      policy_violations: ["pii"],
      prev_hash: null
    })
    // every phase decision, as the event reported it
    expect(record?.outcome.categories).toStrictEqual([
      { category: "SYSTEM_ERROR", source: "PIPELINE", details: "tool execution failed: a" },
      { category: "POLICY_RESTRICTION", source: "PIPELINE", details: "1 violation" }
    ])
    expect(record?.matched_rules).toStrictEqual([{ rule_id: "r1" }, { rule_id: "r2", score: 0.5 }])
    expect(record?.scenario).toStrictEqual({
      active_scenario_id: "refund",
      current_step_id: "ask-order",
      awaiting_user_input: false,
      lifecycle_decisions: { refund: "START", upsell: "EXIT" },
      step_transitions: { refund: { from_step: null, to_step: "ask-order", reason: "entry" } }
    })
    expect(record?.tool_executions).toStrictEqual([
      { tool_id: "a", success: false, error: "timeout", duration_ms: 1200 },
      { tool_id: "b", success: true, duration_ms: 15 }
    ])
    expect(record?.enforcement).toStrictEqual({ blocked: true, regeneration_attempts: 1 })
    // and the session knows where the conversation stands
    expect(actor.record?.state.lifecycle).toStrictEqual({
      active_scenario_id: "refund",
      current_step_id: "ask-order",
      canonical_intent: "refund"
    })
    expect(record?.customer_data_updates.map((u) => [u.field_name, u.status])).toStrictEqual([
      ["plan", "persisted"],
      ["age", "rejected"],
      ["nope", "unknown_field"]
    ])
  })
})

describe("properties", () => {
  const names = ["plan", "email", "order", "mood", "draft", "age", "prefs", "unknown"]
  const value = fc.oneof(
    fc.constantFrom("gold", "silver", "a@b.io", " A@B.io ", 42, "42", -1, 1000, null),
    fc.jsonValue({ maxDepth: 2 })
  )
  const candidates = fc.dictionary(
    fc.constantFrom(...names),
    fc.record(
      {
        value,
        source: fc.constantFrom<VariableSource>("USER", "TOOL"),
        confidence: fc.double({ min: 0, max: 1, noNaN: true })
      },
      { requiredKeys: ["value"] }
    ),
    { maxKeys: 4 }
  )
  const turnShape = fc.record({
    candidates,
    caseId: fc.option(fc.constantFrom("case-A", "case-B"), { nil: undefined }),
    gap: fc.integer({ min: 1, max: 3 }),
    noRules: fc.boolean(),
    awaiting: fc.boolean(),
    blocked: fc.boolean()
  })

  it.prop(
    "applying the same turn twice changes nothing",
    [fc.array(turnShape, { minLength: 1, maxLength: 12 }), fc.nat()],
    ([shapes, pick]) => {
      const actor = newActor()
      const events: Array<TurnCompleted> = []
      let number = 0
      shapes.forEach((shape, i) => {
        number += shape.gap
        const event = turn(number, {
          turn_id: `turn-${i}`,
          occurred_at: at(i),
          candidate_variables: shape.candidates,
          matched_rules: shape.noRules ? [] : [{ rule_id: "r" }],
          scenario: { awaiting_user_input: shape.awaiting, active_scenario_id: "sc" },
          enforcement: { violations: [], blocked: shape.blocked, regeneration_attempts: 0 },
          ...(shape.caseId === undefined ? {} : { case_id: shape.caseId })
        })
        events.push(event)
        const before = structuredClone(snapshot(actor))
        expect(actor.handleTurn(event, SETTINGS).kind).toBe("applied")
        const after = structuredClone(snapshot(actor))
        // The very same event again: a no-op.
        expect(actor.handleTurn(event, SETTINGS)).toStrictEqual({ kind: "duplicate" })
        expect(deepEqual(snapshot(actor), after)).toBe(true)
        expect(deepEqual(before, after)).toBe(false)
      })
      // Any earlier turn redelivered later: still a no-op.
      const replayed = events[pick % events.length]!
      const final = structuredClone(snapshot(actor))
      expect(actor.handleTurn(replayed, SETTINGS)).toStrictEqual({ kind: "duplicate" })
      expect(deepEqual(snapshot(actor), final)).toBe(true)
    },
    { fastCheck: { numRuns: 200 } }
  )
})
