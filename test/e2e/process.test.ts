/**
 * `turnvault process` reproduces DESIGN 3, 8 and 9 line for line on the embedded defaults.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { caseClosed, def, ended, turn } from "../support/events"
import { syntheticDefinitions } from "../../src/dev/definitions"
import { defaultTrafficOptions, makeSyntheticTraffic } from "../../src/dev/SyntheticTraffic"
import { runProcess } from "../support/pipeline"

const defs = [
  def("email", "email", "IDENTITY", { is_pii: true }),
  def("plan", "enum", "BUSINESS", { validation: { allowed_values: ["basic", "pro"] } }),
  def("seats", "integer", "BUSINESS", { validation: { min: 1 } }),
  def("mood", "string", "SESSION"),
  def("note", "string", "BUSINESS", { persist: false }),
  def("order", "string", "CASE"),
  def("nickname", "string", "IDENTITY", { validation_mode: "warn", validation: { min_length: 3 } })
]

const updates = (record: Record<string, any>) =>
  Object.fromEntries(record.customer_data_updates.map((u: any) => [u.field_name, u.status]))

describe("process", () => {
  it.effect("applies a turn: persisted, session-only, rejected and unknown fields", () =>
    Effect.gen(function* () {
      const out = yield* runProcess(defs, [
        turn({ turn: 1, vars: { email: " Ada@Example.COM", plan: "gold", mood: "happy", note: "n", zzz: 1 } })
      ])
      expect(out.records).toHaveLength(1)
      expect(updates(out.records[0]!)).toEqual({
        email: "persisted",
        plan: "rejected",
        mood: "session_only",
        note: "session_only",
        zzz: "unknown_field"
      })
      const plan = out.records[0]!.customer_data_updates.find((u: any) => u.field_name === "plan")
      expect(plan.validation_error).toBe("not one of the allowed values")
      expect(out.profile).toEqual([
        expect.objectContaining({
          name: "email",
          value: "ada@example.com",
          status: "active",
          source_item_id: "t1-s1-1"
        })
      ])
      expect(out.sessions).toEqual([
        expect.objectContaining({
          status: "ACTIVE",
          turn_count: 1,
          last_turn_number: 1,
          variables: { mood: "happy", note: "n" }
        })
      ])
      expect(out.sessions[0]!.content_hash).toMatch(/^[0-9a-f]{64}$/)
    })
  )

  it.effect(
    "with customer-data persistence off, valid values stay in the session and no profile is kept",
    () =>
      Effect.gen(function* () {
        const out = yield* runProcess(
          defs,
          [turn({ turn: 1, vars: { email: " Ada@Example.COM", plan: "gold", mood: "happy", seats: 3 } })],
          { TURNVAULT_CUSTOMER_DATA_PERSISTENCE: "false" }
        )
        expect(updates(out.records[0]!)).toEqual({
          email: "session_only",
          plan: "rejected",
          mood: "session_only",
          seats: "session_only"
        })
        expect(out.profile).toEqual([])
        expect(out.sessions[0]!.variables).toEqual({ email: "ada@example.com", mood: "happy", seats: 3 })
      })
  )

  it.effect("each turn record lists the required fields of the scenario step still missing after it", () =>
    Effect.gen(function* () {
      const requirement = (scenario_id: string, field_name: string, more: object = {}) => ({
        tenant_id: "t1",
        agent_id: "a1",
        scenario_id,
        field_name,
        ...more
      })
      const requirements = [
        requirement("refund", "email"),
        requirement("refund", "order", { step_id: "ask-order" }),
        requirement("refund", "plan", { step_id: "ask-order", required_level: "optional" }),
        requirement("refund", "mood", { step_id: "confirm", fallback_action: "skip" }),
        // required for every step, and by the step itself with another fallback: the step's wins
        requirement("refund", "seats", { fallback_action: "escalate" }),
        requirement("refund", "seats", { step_id: "confirm", fallback_action: "block" }),
        requirement("other", "plan")
      ]
      const at = (scenario: string | null, step: string | null) => ({
        scenario:
          scenario === null
            ? null
            : { active_scenario_id: scenario, current_step_id: step, awaiting_user_input: true }
      })
      const out = yield* runProcess(
        defs,
        [
          turn({ turn: 1, extra: at("refund", "ask-order") }),
          turn({ turn: 2, vars: { email: "a@b.io" }, extra: at("refund", "ask-order") }),
          turn({ turn: 3, vars: { seats: 2 }, extra: at("refund", "confirm") }),
          turn({ turn: 4, vars: { mood: "calm" }, extra: at("refund", "confirm") }),
          turn({ turn: 5, extra: at(null, null) }),
          // another session of the customer: the profile's email counts, the first session's mood does not
          turn({ session: "s2", turn: 1, extra: at("refund", "confirm") })
        ],
        {},
        undefined,
        requirements
      )
      const missing = Object.fromEntries(
        out.stored.map((r) => [
          r.turn_id,
          (r.missing_fields ?? []).map((m) => `${m.field_name}:${m.fallback_action}`)
        ])
      )
      expect(missing).toEqual({
        "t1-s1-1": ["email:ask", "order:ask", "seats:escalate"],
        "t1-s1-2": ["order:ask", "seats:escalate"],
        "t1-s1-3": ["mood:skip"],
        "t1-s1-4": [],
        "t1-s1-5": [],
        "t1-s2-1": ["mood:skip"]
      })
    })
  )

  it.effect("variables named like Object.prototype members are fields like any other", () =>
    Effect.gen(function* () {
      const out = yield* runProcess(
        [
          ...defs,
          def("constructor", "string", "SESSION"),
          def("prototype", "string", "BUSINESS"),
          def("valueOf", "integer", "IDENTITY")
        ],
        [
          turn({
            turn: 1,
            // JSON.parse: in an object literal `__proto__: 1` would set the prototype, not a key
            vars: JSON.parse(
              '{"constructor":"c","prototype":"p","valueOf":3,"__proto__":1,"toString":2,"hasOwnProperty":4}'
            )
          }),
          turn({ turn: 2, vars: { constructor: "c", prototype: "p2" } })
        ]
      )
      expect(out.dlq).toEqual([])
      // pairs, not an object: a `__proto__` key in an object literal would set its prototype
      const statuses = out.records[0]!.customer_data_updates.map((u: any) => [u.field_name, u.status])
      expect(statuses).toEqual([
        ["constructor", "session_only"],
        ["prototype", "persisted"],
        ["valueOf", "persisted"],
        ["__proto__", "unknown_field"],
        ["toString", "unknown_field"],
        ["hasOwnProperty", "unknown_field"]
      ])
      expect(updates(out.records[1]!)).toEqual({ constructor: "unchanged", prototype: "persisted" })
      expect(out.profile.filter((f) => f.status === "active").map((f) => [f.name, f.value])).toEqual(
        expect.arrayContaining([
          ["prototype", "p2"],
          ["valueOf", 3]
        ])
      )
      expect(out.sessions[0]!.variables).toEqual({ constructor: "c" })
    })
  )

  it.effect("a session's events naming another customer are dead-lettered as customer_mismatch", () =>
    Effect.gen(function* () {
      const out = yield* runProcess(defs, [
        turn({ turn: 1, customer: "c1", vars: { plan: "basic" } }),
        turn({ turn: 2, customer: "c2", vars: { plan: "pro" } }),
        ended({ customer: "c2" }),
        turn({ turn: 3, customer: "c1" })
      ])
      expect(out.dlq).toEqual([
        expect.objectContaining({
          line: 2,
          reason: "schema_violation",
          detail: expect.stringMatching(/^customer_mismatch/)
        }),
        expect.objectContaining({
          line: 3,
          reason: "schema_violation",
          detail: expect.stringMatching(/^customer_mismatch/)
        })
      ])
      expect(out.sessions).toEqual([
        expect.objectContaining({ customer_id: "c1", status: "ACTIVE", turn_count: 2, last_turn_number: 3 })
      ])
      expect(out.profile.map((r) => [r.customer_id, r.value])).toEqual([["c1", "basic"]])
      expect(out.records.map((r) => r.turn_number)).toEqual([1, 3])
    })
  )

  it.effect("an equal value is unchanged: no new row, no history", () =>
    Effect.gen(function* () {
      const out = yield* runProcess(defs, [
        turn({ turn: 1, vars: { email: "a@b.com" } }),
        turn({ turn: 2, vars: { email: " A@B.com" } }),
        turn({ turn: 3, vars: { email: "c@d.com" } })
      ])
      expect(out.records.map(updates)).toEqual([
        { email: "persisted" },
        { email: "unchanged" },
        { email: "persisted" }
      ])
      expect(out.profile.map((r) => [r.value, r.status])).toEqual([
        ["a@b.com", "superseded"],
        ["c@d.com", "active"]
      ])
      expect(out.profile[0]!.superseded_by_id).not.toBeNull()
    })
  )

  it.effect("a duplicate turn produces nothing; an out-of-order turn goes to the DLQ", () =>
    Effect.gen(function* () {
      const out = yield* runProcess(defs, [
        turn({ turn: 1 }),
        turn({ turn: 2 }),
        turn({ turn: 2 }),
        turn({ turn: 1 }),
        turn({ turn: 1, turnId: "late-new-id" }),
        turn({ turn: 5 })
      ])
      expect(out.records.map((r) => r.turn_number)).toEqual([1, 2, 5])
      expect(out.dlq).toEqual([
        { line: 5, reason: "out_of_order", detail: expect.stringContaining("turn_number 1") }
      ])
      expect(out.sessions[0]).toMatchObject({ turn_count: 3, last_turn_number: 5 })
    })
  )

  it.effect("malformed JSON and schema violations go to the DLQ with a reason and detail", () =>
    Effect.gen(function* () {
      const { tenant_id: _omit, ...noTenant } = turn({ turn: 1 })
      const out = yield* runProcess(defs, [
        "{not json",
        noTenant,
        { ...turn({ turn: 1 }), turn_number: 0 },
        { ...turn({ turn: 1 }), event_type: "turn.started" },
        turn({ turn: 1, extra: { future_field: { anything: true } } })
      ])
      expect(out.dlq.map((d) => [d.line, d.reason])).toEqual([
        [1, "malformed_json"],
        [2, "schema_violation"],
        [3, "schema_violation"],
        [4, "schema_violation"]
      ])
      expect(out.dlq[1]!.detail).toContain("tenant_id")
      expect(out.dlq[2]!.detail).toContain("turn_number")
      expect(out.records).toHaveLength(1)
    })
  )

  it.effect("warn mode applies and persists the raw value but records the error; disabled skips checks", () =>
    Effect.gen(function* () {
      const warned = yield* runProcess(defs, [turn({ turn: 1, vars: { nickname: "Al", seats: "0" } })])
      const record = warned.records[0]!
      expect(record.customer_data_updates).toEqual([
        { field_name: "nickname", status: "persisted", validation_error: "shorter than 3 characters" },
        { field_name: "seats", status: "rejected", validation_error: "below minimum 1" }
      ])
      expect(warned.profile.map((r) => [r.name, r.value])).toEqual([["nickname", "Al"]])

      const globalWarn = yield* runProcess(defs, [turn({ turn: 1, vars: { seats: "0" } })], {
        TURNVAULT_VALIDATION_MODE: "warn"
      })
      expect(globalWarn.profile.map((r) => r.value)).toEqual(["0"])
      const disabled = yield* runProcess(defs, [turn({ turn: 1, vars: { plan: 42 } })], {
        TURNVAULT_VALIDATION_MODE: "disabled"
      })
      expect(disabled.records[0]!.customer_data_updates).toEqual([
        { field_name: "plan", status: "persisted" }
      ])
      expect(disabled.profile.map((r) => r.value)).toEqual([42])
    })
  )

  it.effect("CASE fields expire when their case closes, other cases untouched", () =>
    Effect.gen(function* () {
      const out = yield* runProcess(defs, [
        turn({ turn: 1, caseId: "k1", vars: { order: "o-1", plan: "pro" } }),
        turn({ session: "s2", customer: "c1", turn: 1, caseId: "k2", vars: { order: "o-2" } }),
        caseClosed({ caseId: "k1" }),
        caseClosed({ caseId: "k1" })
      ])
      const rows = out.profile.map((r) => [r.name, r.value, r.case_id, r.status])
      expect(rows).toContainEqual(["order", "o-1", "k1", "superseded"])
      expect(rows).toContainEqual(["order", "o-2", "k2", "active"])
      expect(rows).toContainEqual(["plan", "pro", null, "active"])

      const closed = yield* runProcess(defs, [
        turn({ turn: 1, caseId: "k1", vars: { order: "o-1" } }),
        caseClosed({ caseId: "k1" })
      ])
      expect(closed.profile.map((r) => [r.case_id, r.status])).toEqual([["k1", "expired"]])
    })
  )

  it.effect("CASE values kept only in the session leave it when their case closes, once", () =>
    Effect.gen(function* () {
      const caseDefs = [...defs, def("draft", "string", "CASE", { persist: false })]
      const out = yield* runProcess(caseDefs, [
        turn({ turn: 1, caseId: "k1", vars: { draft: "d-1", mood: "calm" } }),
        turn({ session: "s2", customer: "c1", turn: 1, caseId: "k2", vars: { draft: "d-2" } }),
        caseClosed({ caseId: "k1" }),
        caseClosed({ caseId: "k1" })
      ])
      const variables = Object.fromEntries(out.sessions.map((s) => [s.session_id, s.variables]))
      expect(variables).toEqual({ s1: { mood: "calm" }, s2: { draft: "d-2" } })
      expect(out.profile).toEqual([])
    })
  )

  it.effect("session end clears session-only values; a later turn reopens the session", () =>
    Effect.gen(function* () {
      const out = yield* runProcess(defs, [
        turn({ turn: 1, vars: { mood: "happy", note: "x" } }),
        ended({ reason: "ABANDONED" }),
        ended({ session: "never-seen" })
      ])
      expect(out.sessions).toEqual([
        expect.objectContaining({ session_id: "s1", status: "ABANDONED", variables: {} })
      ])
      const kept = yield* runProcess(defs, [turn({ turn: 1, vars: { mood: "happy" } }), ended({})], {
        TURNVAULT_SESSION_CLEANUP_ON_END: "false"
      })
      expect(kept.sessions[0]).toMatchObject({ status: "ENDED", variables: { mood: "happy" } })

      const reopened = yield* runProcess(defs, [
        turn({ turn: 1, vars: { mood: "happy" } }),
        ended({}),
        turn({ turn: 2, vars: { mood: "happy" } })
      ])
      expect(reopened.sessions[0]).toMatchObject({
        status: "ACTIVE",
        turn_count: 2,
        variables: { mood: "happy" }
      })
      expect(updates(reopened.records[1]!)).toEqual({ mood: "session_only" })
    })
  )

  it.effect("a returning customer's profile carries over to a new session", () =>
    Effect.gen(function* () {
      const out = yield* runProcess(defs, [
        turn({ session: "s1", turn: 1, vars: { email: "a@b.com", plan: "basic" } }),
        ended({ session: "s1" }),
        turn({ session: "s2", turn: 1, vars: { email: "a@b.com", plan: "pro" } })
      ])
      const second = out.records.find((r) => r.session_id === "s2")!
      expect(second.customer_data_updates).toEqual([
        { field_name: "email", status: "unchanged" },
        { field_name: "plan", status: "persisted" }
      ])
      expect(out.profile.filter((r) => r.status === "active").map((r) => [r.name, r.value])).toEqual([
        ["email", "a@b.com"],
        ["plan", "pro"]
      ])
    })
  )

  it.effect("two tenants with the same session and customer ids are kept apart", () =>
    Effect.gen(function* () {
      const t2defs = defs.map((d) => ({ ...d, tenant_id: "t2" }))
      const out = yield* runProcess(
        [...defs, ...t2defs],
        [
          turn({ tenant: "t1", turn: 1, vars: { email: "one@t1.com" } }),
          turn({ tenant: "t2", turn: 1, vars: { email: "one@t2.com" } }),
          turn({ tenant: "t2", turn: 2, vars: { email: "one@t1.com" } })
        ]
      )
      expect(out.sessions.map((s) => [s.tenant_id, s.turn_count])).toEqual([
        ["t1", 1],
        ["t2", 2]
      ])
      expect(out.records.map(updates)).toEqual([
        { email: "persisted" },
        { email: "persisted" },
        { email: "persisted" }
      ])
      expect(out.profile.filter((r) => r.status === "active").map((r) => [r.tenant_id, r.value])).toEqual([
        ["t1", "one@t1.com"],
        ["t2", "one@t1.com"]
      ])
    })
  )

  it.effect("an older update that arrives late is stored already superseded (last writer wins)", () =>
    Effect.gen(function* () {
      const out = yield* runProcess(defs, [
        turn({ session: "s1", turn: 1, at: "2026-01-01T10:00:00Z", vars: { plan: "pro" } }),
        turn({ session: "s2", turn: 1, at: "2026-01-01T09:00:00+00:00", vars: { plan: "basic" } })
      ])
      expect(out.profile.map((r) => [r.value, r.status])).toEqual([
        ["basic", "superseded"],
        ["pro", "active"]
      ])
      expect(out.records.map(updates)).toEqual([{ plan: "persisted" }, { plan: "persisted" }])
    })
  )

  it.effect("old rows are never deleted: every change stays as a row, one active per field", () =>
    Effect.gen(function* () {
      const lines = Array.from({ length: 6 }, (_, i) =>
        turn({ turn: i + 1, vars: { plan: i % 2 === 0 ? "basic" : "pro" } })
      )
      const out = yield* runProcess(defs, lines, { TURNVAULT_MAX_HISTORY_ENTRIES: "2" })
      expect(out.profile.filter((r) => r.status === "active")).toHaveLength(1)
      expect(out.profile).toHaveLength(6)
    })
  )

  it.effect(
    "handing consecutive lines to the processor in batches exports exactly what one at a time does",
    () =>
      Effect.gen(function* () {
        const traffic = makeSyntheticTraffic({
          ...defaultTrafficOptions,
          concurrentSessions: 30,
          customersPerTenant: 20
        })
        const lines: Array<string> = Array.from({ length: 1500 }, () => traffic.next().value)
        // a few late turns with new ids: out of order, wherever they land in a batch
        lines.splice(
          700,
          0,
          JSON.stringify({ ...JSON.parse(lines[650]!), turn_id: "late-1", turn_number: 1 })
        )
        const defs = syntheticDefinitions(traffic.tenants, traffic.agents)
        const single = yield* runProcess(defs, lines, { TURNVAULT_BATCH_SIZE: "1" })
        const batched = yield* runProcess(defs, lines, { TURNVAULT_BATCH_SIZE: "250" })
        expect(single.records.length).toBeGreaterThan(1000)
        expect(single.dlq.some((d) => d.reason === "out_of_order")).toBe(true)
        const { dir: _a, ...a } = single
        const { dir: _b, ...b } = batched
        expect(b).toEqual(a)
      })
  )
})
