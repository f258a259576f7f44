import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { CandidateVariable, FieldDefinition, Scope, ValidationMode, ValueType } from "../../schemas"
import {
  type CustomerDataOptions,
  type TurnContext,
  profileFieldId,
  updateCustomerData
} from "../../src/domain/customerData"
import { type DataEntry, type Definitions, type ValueVersion, newRows } from "../../src/domain/model"

const TURN: TurnContext = {
  tenant_id: "t1",
  customer_id: "c1",
  session_id: "s1",
  agent_id: "a1",
  turn_id: "turn-0002",
  occurred_at: "2024-05-01T10:00:00.000Z"
}
const EARLIER = "2024-05-01T09:00:00.000Z"
const LATER = "2024-05-01T11:00:00.000Z"
const OPTIONS: CustomerDataOptions = { defaultMode: "strict", maxHistory: 10, persistProfile: true }

const def = (
  name: string,
  value_type: ValueType,
  overrides: Partial<FieldDefinition> = {}
): FieldDefinition => ({
  tenant_id: "t1",
  agent_id: "a1",
  name,
  value_type,
  scope: "BUSINESS",
  persist: true,
  is_pii: false,
  version: 1,
  ...overrides
})

const defs = (...definitions: ReadonlyArray<FieldDefinition>): Definitions =>
  new Map(definitions.map((d) => [d.name, d]))

const version = (value: unknown, overrides: Partial<ValueVersion> = {}): ValueVersion => ({
  value,
  source: "USER",
  confidence: 1,
  updated_at: EARLIER,
  source_item_id: "turn-0001",
  ...overrides
})

const entry = (value: unknown, overrides: Partial<DataEntry> = {}): DataEntry => ({
  ...version(value),
  scope: "BUSINESS",
  history: [],
  ...overrides
})

interface Run {
  readonly candidates: Readonly<Record<string, CandidateVariable>>
  readonly definitions: Definitions
  readonly turn?: Partial<TurnContext>
  readonly profile?: ReadonlyMap<string, DataEntry>
  readonly session?: Readonly<Record<string, DataEntry>>
  readonly expired?: ReadonlyMap<string, DataEntry>
  readonly options?: Partial<CustomerDataOptions>
}

const run = (input: Run) =>
  updateCustomerData(
    { ...TURN, ...input.turn },
    input.candidates,
    input.definitions,
    input.profile ?? new Map(),
    input.session ?? {},
    input.expired ?? new Map(),
    { ...OPTIONS, ...input.options }
  )

describe("match", () => {
  it("skips a candidate without a definition as unknown_field and still applies the known ones", () => {
    const result = run({
      candidates: { nickname: { value: "Bo" }, plan: { value: "gold" } },
      definitions: defs(def("plan", "string"))
    })
    expect(result.updates).toStrictEqual([
      { field_name: "nickname", status: "unknown_field" },
      { field_name: "plan", status: "persisted", scope: "BUSINESS", is_update: false }
    ])
    expect(newRows(result.profileWrites).map((row) => row.name)).toStrictEqual(["plan"])
    expect([...result.profileChanges.keys()]).toStrictEqual(["plan"])
    expect(result.validationErrors).toStrictEqual([])
  })

  it("reports one update per candidate in the order the event listed them", () => {
    const result = run({
      candidates: { c: { value: "3" }, a: { value: "1" }, b: { value: "2" } },
      definitions: defs(def("a", "string"), def("b", "string"), def("c", "string"))
    })
    expect(result.updates.map((u) => u.field_name)).toStrictEqual(["c", "a", "b"])
  })
})

describe("validation modes", () => {
  const age = def("age", "integer")

  it("strict (the default) rejects an invalid value: not applied, not written, error recorded", () => {
    const profile = new Map([["age", entry(41)]])
    const result = run({ candidates: { age: { value: "forty-two" } }, definitions: defs(age), profile })
    expect(result.updates).toHaveLength(1)
    expect(result.updates[0]).toMatchObject({ field_name: "age", status: "rejected", scope: "BUSINESS" })
    expect(result.updates[0]?.validation_error).toEqual(expect.any(String))
    expect(newRows(result.profileWrites)).toStrictEqual([])
    expect(result.profileChanges.size).toBe(0)
    expect(result.validationErrors).toStrictEqual([{ field: "age", type: "type", value_type: "integer" }])
    expect(profile.get("age")?.value).toBe(41)
  })

  it("strict reports the failing constraint as the error type", () => {
    const result = run({
      candidates: { age: { value: 200 } },
      definitions: defs(def("age", "integer", { validation: { max: 150 } }))
    })
    expect(result.updates[0]?.status).toBe("rejected")
    expect(result.validationErrors).toStrictEqual([{ field: "age", type: "max", value_type: "integer" }])
  })

  it("strict rejection of a session-only field leaves the session variables untouched", () => {
    const session = { mood: entry("calm", { scope: "SESSION" }) }
    const result = run({
      candidates: { mood: { value: "angry" } },
      definitions: defs(def("mood", "enum", { scope: "SESSION", validation: { allowed_values: ["calm"] } })),
      session
    })
    expect(result.updates[0]?.status).toBe("rejected")
    expect(result.sessionVariables).toBe(session)
  })

  it("strict applies the coerced (normalised) value", () => {
    const result = run({
      candidates: { email: { value: "  Ann@Example.COM " } },
      definitions: defs(def("email", "email"))
    })
    expect(newRows(result.profileWrites)[0]?.value).toBe("ann@example.com")
    expect(result.profileChanges.get("email")?.value).toBe("ann@example.com")
  })

  it("warn applies and persists the RAW value and reports the validation error", () => {
    const result = run({
      candidates: { age: { value: "forty-two" } },
      definitions: defs(age),
      options: { defaultMode: "warn" }
    })
    const update = result.updates[0]
    expect(update).toMatchObject({ field_name: "age", status: "persisted", is_update: false })
    expect(update?.validation_error).toEqual(expect.any(String))
    expect(newRows(result.profileWrites)).toHaveLength(1)
    expect(newRows(result.profileWrites)[0]).toMatchObject({
      value: "forty-two",
      validation_error: update?.validation_error
    })
    expect(result.profileChanges.get("age")).toMatchObject({
      value: "forty-two",
      validation_error: update?.validation_error
    })
    expect(result.validationErrors).toStrictEqual([{ field: "age", type: "type", value_type: "integer" }])
  })

  it("warn applies a valid value in its coerced form, without an error", () => {
    const result = run({
      candidates: { age: { value: "42" } },
      definitions: defs(age),
      options: { defaultMode: "warn" }
    })
    expect(result.updates[0]).toStrictEqual({
      field_name: "age",
      status: "persisted",
      scope: "BUSINESS",
      is_update: false
    })
    expect(newRows(result.profileWrites)[0]).toMatchObject({ value: 42, validation_error: null })
    expect(result.profileChanges.get("age")).not.toHaveProperty("validation_error")
    expect(result.validationErrors).toStrictEqual([])
  })

  it("disabled applies the raw value with no checks and no error", () => {
    const result = run({
      candidates: { age: { value: "forty-two" }, count: { value: "42" } },
      definitions: defs(age, def("count", "integer")),
      options: { defaultMode: "disabled" }
    })
    expect(result.updates.map((u) => u.status)).toStrictEqual(["persisted", "persisted"])
    expect(result.updates.every((u) => u.validation_error === undefined)).toBe(true)
    expect(newRows(result.profileWrites).map((row) => row.value)).toStrictEqual(["forty-two", "42"])
    expect(newRows(result.profileWrites).every((row) => row.validation_error === null)).toBe(true)
    expect(result.validationErrors).toStrictEqual([])
  })

  it.each([
    ["strict", "warn", "persisted"],
    ["strict", "disabled", "persisted"],
    ["warn", "strict", "rejected"],
    ["disabled", "strict", "rejected"]
  ] as const)(
    "default %s is overridden by the definition's validation_mode %s",
    (defaultMode, fieldMode, status) => {
      const result = run({
        candidates: { age: { value: "forty-two" } },
        definitions: defs(def("age", "integer", { validation_mode: fieldMode })),
        options: { defaultMode }
      })
      expect(result.updates[0]?.status).toBe(status)
    }
  )
})

describe("apply", () => {
  it("an equal value is unchanged: no new row, no new version, no history entry", () => {
    const current = entry("gold", { history: [version("silver")] })
    const result = run({
      candidates: { plan: { value: "gold" } },
      definitions: defs(def("plan", "string")),
      profile: new Map([["plan", current]])
    })
    expect(result.updates).toStrictEqual([
      { field_name: "plan", status: "unchanged", scope: "BUSINESS", is_update: true }
    ])
    expect(newRows(result.profileWrites)).toStrictEqual([])
    expect(result.profileChanges.get("plan")?.history).toStrictEqual(current.history)
  })

  it("an equal value from a newer turn confirms the current one: its recency, not a new version", () => {
    const current = entry("gold")
    const result = run({
      candidates: { plan: { value: "gold" } },
      definitions: defs(def("plan", "string")),
      profile: new Map([["plan", current]])
    })
    expect(result.profileWrites).toStrictEqual([
      {
        kind: "confirmation",
        tenant_id: "t1",
        customer_id: "c1",
        name: "plan",
        id: profileFieldId("t1", "c1", "plan", "turn-0001"),
        confirmed_at: TURN.occurred_at,
        confirmed_by: TURN.turn_id
      }
    ])
    expect(result.profileChanges.get("plan")).toStrictEqual({
      ...current,
      confirmed_at: TURN.occurred_at,
      confirmed_by: TURN.turn_id
    })
  })

  it("an equal value from an older turn changes nothing", () => {
    const current = entry("gold", { updated_at: LATER })
    const result = run({
      candidates: { plan: { value: "gold" } },
      definitions: defs(def("plan", "string")),
      profile: new Map([["plan", current]])
    })
    expect(result.updates[0]?.status).toBe("unchanged")
    expect(result.profileWrites).toStrictEqual([])
    expect(result.profileChanges.size).toBe(0)
  })

  it("a confirmed value wins over a later-arriving update older than its confirmation", () => {
    const confirmed = entry("gold", { confirmed_at: LATER, confirmed_by: "turn-0009" })
    const result = run({
      candidates: { plan: { value: "silver" } },
      definitions: defs(def("plan", "string")),
      profile: new Map([["plan", confirmed]])
    })
    expect(result.updates[0]?.status).toBe("persisted")
    expect(newRows(result.profileWrites)).toHaveLength(1)
    // stored (late) but not current: the confirmation at LATER is newer than this turn
    expect(result.profileChanges.size).toBe(0)
  })

  it("equality is deep: an object with its keys in another order is unchanged", () => {
    const result = run({
      candidates: { prefs: { value: { b: { d: [1, { y: 2, x: 1 }], c: null }, a: "x" } } },
      definitions: defs(def("prefs", "json")),
      profile: new Map([["prefs", entry({ a: "x", b: { c: null, d: [1, { x: 1, y: 2 }] } })]])
    })
    expect(result.updates[0]?.status).toBe("unchanged")
    expect(newRows(result.profileWrites)).toStrictEqual([])
  })

  it("equality is judged on the coerced value", () => {
    const result = run({
      candidates: { email: { value: " ANN@example.com" } },
      definitions: defs(def("email", "email")),
      profile: new Map([["email", entry("ann@example.com")]])
    })
    expect(result.updates[0]?.status).toBe("unchanged")
  })

  it("a different array order is a change", () => {
    const result = run({
      candidates: { tags: { value: [2, 1] } },
      definitions: defs(def("tags", "json")),
      profile: new Map([["tags", entry([1, 2])]])
    })
    expect(result.updates[0]?.status).toBe("persisted")
  })

  it("a changed value is persisted as a row with full provenance", () => {
    const result = run({
      candidates: { plan: { value: "gold" } },
      definitions: defs(def("plan", "string", { scope: "IDENTITY", version: 4 }))
    })
    expect(newRows(result.profileWrites)).toStrictEqual([
      {
        id: profileFieldId("t1", "c1", "plan", "turn-0002"),
        tenant_id: "t1",
        customer_id: "c1",
        name: "plan",
        scope: "IDENTITY",
        status: "active",
        value: "gold",
        source: "USER",
        confidence: 1,
        updated_at: TURN.occurred_at,
        source_item_id: TURN.turn_id,
        source_item_type: "turn",
        source_metadata: { session_id: "s1", agent_id: "a1" },
        superseded_by_id: null,
        case_id: null,
        expires_at: null,
        validation_error: null,
        confirmed_at: null,
        confirmed_by: null,
        // the version of the definition that validated it
        definition_version: 4
      }
    ])
    expect(result.profileChanges.get("plan")).toStrictEqual({
      value: "gold",
      source: "USER",
      confidence: 1,
      updated_at: TURN.occurred_at,
      source_item_id: TURN.turn_id,
      scope: "IDENTITY",
      history: []
    })
  })

  it("carries the candidate's source and confidence", () => {
    const result = run({
      candidates: { plan: { value: "gold", source: "TOOL", confidence: 0.4 } },
      definitions: defs(def("plan", "string"))
    })
    expect(newRows(result.profileWrites)[0]).toMatchObject({ source: "TOOL", confidence: 0.4 })
    expect(result.profileChanges.get("plan")).toMatchObject({ source: "TOOL", confidence: 0.4 })
  })

  it("moves the previous value into history, newest last, with its provenance only", () => {
    const older = version("bronze", { updated_at: "2024-04-01T00:00:00.000Z", source_item_id: "turn-0000" })
    const current = entry("silver", {
      history: [older],
      source: "TOOL",
      confidence: 0.7,
      validation_error: "expected string",
      scope: "BUSINESS"
    })
    const result = run({
      candidates: { plan: { value: "gold" } },
      definitions: defs(def("plan", "string")),
      profile: new Map([["plan", current]])
    })
    expect(result.updates[0]).toStrictEqual({
      field_name: "plan",
      status: "persisted",
      scope: "BUSINESS",
      is_update: true
    })
    expect(result.profileChanges.get("plan")?.history).toStrictEqual([
      older,
      { value: "silver", source: "TOOL", confidence: 0.7, updated_at: EARLIER, source_item_id: "turn-0001" }
    ])
  })

  it("bounds history by maxHistory, dropping the oldest", () => {
    const history = [version("v1"), version("v2"), version("v3")]
    const result = run({
      candidates: { plan: { value: "v5" } },
      definitions: defs(def("plan", "string")),
      profile: new Map([["plan", entry("v4", { history })]]),
      options: { maxHistory: 3 }
    })
    expect(result.profileChanges.get("plan")?.history.map((v) => v.value)).toStrictEqual(["v2", "v3", "v4"])
  })

  it("keeps no history when maxHistory is 0", () => {
    const result = run({
      candidates: { plan: { value: "v2" } },
      definitions: defs(def("plan", "string")),
      profile: new Map([["plan", entry("v1", { history: [version("v0")] })]]),
      options: { maxHistory: 0 }
    })
    expect(result.profileChanges.get("plan")?.history).toStrictEqual([])
  })

  it("is_update is true only when a current value existed", () => {
    const result = run({
      candidates: { plan: { value: "gold" }, tier: { value: "2" } },
      definitions: defs(def("plan", "string"), def("tier", "string")),
      profile: new Map([["tier", entry("1")]])
    })
    expect(result.updates.map((u) => [u.field_name, u.is_update])).toStrictEqual([
      ["plan", false],
      ["tier", true]
    ])
  })

  it.each([
    ["SESSION scope", { scope: "SESSION" }],
    ["persist: false", { scope: "BUSINESS", persist: false }]
  ] as const)("%s lives only in the session variables", (_, overrides) => {
    const session = { other: entry("x", { scope: "SESSION" }) }
    const result = run({
      candidates: { mood: { value: "calm" } },
      definitions: defs(def("mood", "string", overrides)),
      session
    })
    expect(result.updates).toStrictEqual([
      { field_name: "mood", status: "session_only", scope: overrides.scope, is_update: false }
    ])
    expect(newRows(result.profileWrites)).toStrictEqual([])
    expect(result.profileChanges.size).toBe(0)
    expect(Object.keys(result.sessionVariables).sort()).toStrictEqual(["mood", "other"])
    expect(result.sessionVariables.mood).toMatchObject({
      value: "calm",
      scope: overrides.scope,
      updated_at: TURN.occurred_at,
      source_item_id: TURN.turn_id,
      history: []
    })
    // The caller's object is not mutated.
    expect(Object.keys(session)).toStrictEqual(["other"])
  })

  it("a session-only field's current value and history come from the session, not the profile", () => {
    const result = run({
      candidates: { mood: { value: "angry" } },
      definitions: defs(def("mood", "string", { persist: false })),
      profile: new Map([["mood", entry("stale-profile-value")]]),
      session: { mood: entry("calm", { scope: "BUSINESS" }) }
    })
    expect(result.updates[0]).toMatchObject({ status: "session_only", is_update: true })
    expect(result.sessionVariables.mood?.history.map((v) => v.value)).toStrictEqual(["calm"])
  })

  it("an unchanged session-only value from an older turn keeps the same session variables object", () => {
    const session = { mood: entry("calm", { scope: "SESSION", updated_at: LATER }) }
    const result = run({
      candidates: { mood: { value: "calm" } },
      definitions: defs(def("mood", "string", { scope: "SESSION" })),
      session
    })
    expect(result.updates[0]?.status).toBe("unchanged")
    expect(result.sessionVariables).toBe(session)
  })

  it("CASE-scoped rows and entries carry the event's case_id; other scopes do not", () => {
    const result = run({
      candidates: { order: { value: "o-1" }, plan: { value: "gold" } },
      definitions: defs(def("order", "string", { scope: "CASE" }), def("plan", "string")),
      turn: { case_id: "case-9" }
    })
    expect(newRows(result.profileWrites).map((row) => [row.name, row.case_id])).toStrictEqual([
      ["order", "case-9"],
      ["plan", null]
    ])
    expect(result.profileChanges.get("order")?.case_id).toBe("case-9")
    expect(result.profileChanges.get("plan")).not.toHaveProperty("case_id")
  })

  it("a CASE-scoped value without a case_id on the event has case_id null", () => {
    const result = run({
      candidates: { order: { value: "o-1" } },
      definitions: defs(def("order", "string", { scope: "CASE" }))
    })
    expect(newRows(result.profileWrites)[0]?.case_id).toBeNull()
    expect(result.profileChanges.get("order")).not.toHaveProperty("case_id")
  })

  it("a late update (older occurred_at) is still written but does not become current", () => {
    const current = entry("gold", { updated_at: LATER, source_item_id: "turn-0003" })
    const result = run({
      candidates: { plan: { value: "silver" } },
      definitions: defs(def("plan", "string")),
      profile: new Map([["plan", current]])
    })
    expect(result.updates[0]).toStrictEqual({
      field_name: "plan",
      status: "persisted",
      scope: "BUSINESS",
      is_update: true
    })
    expect(newRows(result.profileWrites)).toHaveLength(1)
    expect(newRows(result.profileWrites)[0]).toMatchObject({ value: "silver", updated_at: TURN.occurred_at })
    expect(result.profileChanges.has("plan")).toBe(false)
  })

  it("with no current value, an update older than the field's expired CASE value does not become current", () => {
    const ticket = def("ticket", "string", { scope: "CASE" })
    const closed = entry("T-9", {
      scope: "CASE",
      case_id: "c2",
      updated_at: LATER,
      source_item_id: "turn-0009"
    })
    const late = run({
      candidates: { ticket: { value: "T-1" } },
      definitions: defs(ticket),
      turn: { case_id: "c1" },
      expired: new Map([["ticket", closed]])
    })
    expect(late.updates[0]).toMatchObject({ status: "persisted", is_update: false })
    expect(newRows(late.profileWrites)).toHaveLength(1)
    expect(late.profileChanges.has("ticket")).toBe(false)
    // newer than the expired value: current again
    const newer = run({
      candidates: { ticket: { value: "T-1" } },
      definitions: defs(ticket),
      turn: { case_id: "c1", occurred_at: "2024-05-01T12:00:00.000Z" },
      expired: new Map([["ticket", closed]])
    })
    expect(newer.profileChanges.get("ticket")).toMatchObject({ value: "T-1", case_id: "c1" })
  })

  it("a late session-only update does not replace the current session value", () => {
    const session = { mood: entry("calm", { scope: "SESSION", updated_at: LATER }) }
    const result = run({
      candidates: { mood: { value: "angry" } },
      definitions: defs(def("mood", "string", { scope: "SESSION" })),
      session
    })
    expect(result.updates[0]?.status).toBe("session_only")
    expect(result.sessionVariables.mood?.value).toBe("calm")
  })

  it("on equal occurred_at, the greater turn_id wins", () => {
    const at = TURN.occurred_at
    const definitions = defs(def("plan", "string"))
    const profile = new Map([["plan", entry("gold", { updated_at: at, source_item_id: "turn-0002" })]])
    const newer = run({
      candidates: { plan: { value: "x" } },
      definitions,
      profile,
      turn: { turn_id: "turn-0003" }
    })
    const older = run({
      candidates: { plan: { value: "x" } },
      definitions,
      profile,
      turn: { turn_id: "turn-0001" }
    })
    expect(newer.profileChanges.get("plan")?.value).toBe("x")
    expect(older.profileChanges.has("plan")).toBe(false)
    expect(newRows(older.profileWrites)).toHaveLength(1)
  })

  it("expires_at is occurred_at plus expires_after_seconds, else null", () => {
    const result = run({
      candidates: { otp: { value: "1234" }, plan: { value: "gold" } },
      definitions: defs(def("otp", "string", { expires_after_seconds: 90 }), def("plan", "string"))
    })
    expect(newRows(result.profileWrites).map((row) => row.expires_at)).toStrictEqual([
      "2024-05-01T10:01:30.000Z",
      null
    ])
  })

  it("row ids are deterministic in (tenant, customer, field, turn)", () => {
    const input: Run = { candidates: { plan: { value: "gold" } }, definitions: defs(def("plan", "string")) }
    const id = newRows(run(input).profileWrites)[0]?.id
    expect(id).toMatch(/^[0-9a-f]{32}$/)
    expect(newRows(run(input).profileWrites)[0]?.id).toBe(id)
    expect(newRows(run({ ...input, candidates: { plan: { value: "silver" } } }).profileWrites)[0]?.id).toBe(
      id
    )
    const others = [
      run({ ...input, turn: { turn_id: "turn-0009" } }),
      run({ ...input, turn: { customer_id: "c2" } }),
      run({ ...input, turn: { tenant_id: "t2" } }),
      run({ candidates: { tier: { value: "gold" } }, definitions: defs(def("tier", "string")) })
    ].map((r) => newRows(r.profileWrites)[0]?.id)
    expect(new Set([id, ...others]).size).toBe(5)
  })

  it("does not let a field's id collide through the separator", () => {
    expect(profileFieldId("t", "c", "ab", "x")).not.toBe(profileFieldId("t", "ca", "b", "x"))
  })

  // BUG (src/domain/customerData.ts:106 and :136): session variables are a plain object read with
  // `[name]`, so a SESSION-scoped or persist:false field named after an Object.prototype member
  // ("constructor", "toString", "__proto__", ...) finds the inherited member as its "current value"
  // and `withHistory` (line 60) throws `TypeError: previous.history is not iterable`. Field names
  // come from tenants' definitions and candidate names from producers.
  it.each(["constructor", "toString", "__proto__"])("a session-only field named %j is applied", (name) => {
    const candidates = JSON.parse(`{${JSON.stringify(name)}: {"value": "x"}}`) as Record<
      string,
      CandidateVariable
    >
    const apply = () => run({ candidates, definitions: defs(def(name, "string", { scope: "SESSION" })) })
    expect(apply).not.toThrow()
    const result = apply()
    expect(result.updates).toStrictEqual([
      { field_name: name, status: "session_only", scope: "SESSION", is_update: false }
    ])
    expect(Object.hasOwn(result.sessionVariables, name)).toBe(true)
  })
})

describe("properties", () => {
  const scopes: ReadonlyArray<Scope> = ["IDENTITY", "BUSINESS", "CASE", "SESSION"]
  const modes: ReadonlyArray<ValidationMode> = ["strict", "warn", "disabled"]
  const names = ["f0", "f1", "f2", "f3", "f4"]

  const definition = (name: string) =>
    fc
      .record({
        value_type: fc.constantFrom<ValueType>("string", "integer", "boolean", "email", "json"),
        scope: fc.constantFrom(...scopes),
        persist: fc.boolean(),
        validation_mode: fc.option(fc.constantFrom(...modes), { nil: undefined })
      })
      .map(({ validation_mode, ...rest }) =>
        def(name, rest.value_type, { ...rest, ...(validation_mode === undefined ? {} : { validation_mode }) })
      )
  const definitions = fc
    .tuple(...names.map((name) => fc.option(definition(name), { nil: undefined })))
    .map((ds) => defs(...ds.filter((d): d is FieldDefinition => d !== undefined)))
  const value = fc.oneof(
    fc.constantFrom("a", "b", 1, 2, "1", true, "yes", "x@y.io", null),
    fc.jsonValue({ maxDepth: 2 }),
    fc.anything({ maxDepth: 1 })
  )
  const candidates = fc.dictionary(fc.constantFrom(...names), fc.record({ value }), { maxKeys: 5 })
  const currentValues = fc.dictionary(
    fc.constantFrom(...names),
    value.map((v) => entry(v)),
    { maxKeys: 5 }
  )
  const isSessionOnly = (d: FieldDefinition | undefined) =>
    d !== undefined && (d.scope === "SESSION" || !d.persist)

  it.prop(
    "a SESSION-scoped or persist:false field is never marked for persistence",
    [definitions, candidates, currentValues, currentValues, fc.constantFrom(...modes)],
    ([ds, cs, profileValues, sessionValues, defaultMode]) => {
      const result = run({
        candidates: cs,
        definitions: ds,
        profile: new Map(Object.entries(profileValues)),
        session: sessionValues,
        options: { defaultMode }
      })
      for (const row of newRows(result.profileWrites)) expect(isSessionOnly(ds.get(row.name))).toBe(false)
      for (const name of result.profileChanges.keys()) expect(isSessionOnly(ds.get(name))).toBe(false)
      for (const update of result.updates) {
        if (isSessionOnly(ds.get(update.field_name))) {
          expect(["session_only", "unchanged", "rejected"]).toContain(update.status)
        } else {
          expect(update.status).not.toBe("session_only")
        }
      }
      // Every write is reported as persisted, and every persisted field is written exactly once.
      const persisted = result.updates.filter((u) => u.status === "persisted").map((u) => u.field_name)
      expect(newRows(result.profileWrites).map((row) => row.name)).toStrictEqual(persisted)
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "history never exceeds its bound and holds the latest previous values, newest last",
    [
      fc.integer({ min: 0, max: 4 }),
      fc.constantFrom<Scope>("BUSINESS", "SESSION"),
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 30 })
    ],
    ([maxHistory, scope, values]) => {
      const definitions = defs(def("n", "integer", { scope }))
      const profile = new Map<string, DataEntry>()
      let session: Readonly<Record<string, DataEntry>> = {}
      const applied: Array<number> = []
      values.forEach((v, i) => {
        const result = run({
          candidates: { n: { value: v } },
          definitions,
          profile,
          session,
          turn: {
            turn_id: `turn-${String(i).padStart(4, "0")}`,
            occurred_at: new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString()
          },
          options: { maxHistory }
        })
        for (const [name, e] of result.profileChanges) profile.set(name, e)
        session = result.sessionVariables
        if (applied.at(-1) !== v) applied.push(v)
        const current = scope === "SESSION" ? session.n : profile.get("n")
        expect(current?.value).toBe(v)
        expect(current?.history.length).toBeLessThanOrEqual(maxHistory)
        const expected = maxHistory === 0 ? [] : applied.slice(0, -1).slice(-maxHistory)
        expect(current?.history.map((h) => h.value)).toStrictEqual(expected)
      })
    },
    { fastCheck: { numRuns: 300 } }
  )

  const invalidByType: ReadonlyArray<readonly [FieldDefinition, fc.Arbitrary<unknown>]> = [
    [
      def("f", "string"),
      fc.oneof(fc.constant(null), fc.array(fc.integer()), fc.object(), fc.constant(Number.NaN))
    ],
    [
      def("f", "integer"),
      fc.oneof(
        fc.double({ noInteger: true }),
        fc.string().map((s) => `x${s}`),
        fc.boolean()
      )
    ],
    [
      def("f", "number"),
      fc.oneof(
        fc.string().map((s) => `x${s}`),
        fc.constant(""),
        fc.boolean(),
        fc.constant(null)
      )
    ],
    [
      def("f", "boolean"),
      fc.oneof(
        fc.integer({ min: 2 }),
        fc.string().map((s) => `maybe${s}`),
        fc.constant(null),
        fc.array(fc.boolean())
      )
    ],
    [
      def("f", "date"),
      fc.oneof(
        fc.integer({ min: 1000, max: 9999 }).map((y) => `${y}-13-01`),
        fc.integer({ min: 1000, max: 9999 }).map((y) => `${y}-02-30`),
        fc.date({ noInvalidDate: true }).map((d) => d.getTime())
      )
    ],
    [
      def("f", "datetime"),
      fc.oneof(
        fc.constantFrom("2024-05-01", "2024-05-01T10:00:00", "2024-02-30T10:00:00Z", "yesterday"),
        fc.integer()
      )
    ],
    [
      def("f", "email"),
      fc.oneof(
        fc.string().filter((s) => !s.includes("@")),
        fc.constantFrom("a@b", "@b.com", "a b@c.com", "a@@b.com", "a@b..com")
      )
    ],
    [
      def("f", "phone"),
      fc.oneof(
        fc.string().map((s) => `+0${s}`),
        fc.constantFrom("555-2671", "+1 abc 5552671"),
        fc.integer()
      )
    ],
    [
      def("f", "url"),
      fc.oneof(
        fc.string().map((s) => `/relative/${s}`),
        fc.constantFrom("ftp://x.io", "mailto:a@b.c")
      )
    ],
    [
      def("f", "enum", { validation: { allowed_values: ["gold", "silver"] } }),
      fc.oneof(
        fc.string().map((s) => `bronze${s}`),
        fc.constantFrom(1, null, ["gold"])
      )
    ],
    [
      def("f", "json"),
      fc.constantFrom(undefined, Number.NaN, Number.POSITIVE_INFINITY, () => 1, Symbol("s"), 1n, new Date(0))
    ],
    [
      def("f", "integer", { validation: { min: 0, max: 10 } }),
      fc.oneof(fc.integer({ min: 11 }), fc.integer({ max: -1 }))
    ],
    [def("f", "string", { validation: { regex: "[a-z]+" } }), fc.string().map((s) => `A${s}`)],
    [
      def("f", "string", { validation: { max_length: 3 } }),
      fc.string({ minLength: 4 }).filter((s) => [...s].length > 3)
    ]
  ]
  const invalidCase = fc.constantFrom(...invalidByType).chain(([d, raw]) => fc.tuple(fc.constant(d), raw))

  it.prop(
    "an invalid value is never applied in strict mode",
    [invalidCase, fc.constantFrom<Scope>("BUSINESS", "CASE", "SESSION"), fc.boolean()],
    ([[d, raw], scope, persist]) => {
      const definition = { ...d, scope, persist }
      const current = entry("current", { scope })
      const profile = new Map([["f", current]])
      const session = { f: current }
      const result = run({
        candidates: { f: { value: raw } },
        definitions: defs(definition),
        profile,
        session,
        turn: { case_id: "case-1" }
      })
      expect(result.updates).toHaveLength(1)
      expect(result.updates[0]).toMatchObject({ field_name: "f", status: "rejected" })
      expect(result.updates[0]?.validation_error).toEqual(expect.any(String))
      expect(newRows(result.profileWrites)).toStrictEqual([])
      expect(result.profileChanges.size).toBe(0)
      expect(result.sessionVariables).toBe(session)
      expect(profile.get("f")).toBe(current)
      expect(result.validationErrors.map((e) => e.field)).toStrictEqual(["f"])
    },
    { fastCheck: { numRuns: 1000 } }
  )
})
