/**
 * An `extraction.completed` event through the session actor (domain/inference.ts): inferred values
 * follow the turn's own rules (validation, last-writer-wins at the turn's occurred_at) with their own
 * lineage, never overrule what their turn stated, wait for review when doubtful, and re-apply as a no-op.
 */
import { describe, expect, it } from "@effect/vitest"
import type { ExtractionCompleted, InferredVariable, TurnCompleted } from "../../schemas"
import { inferenceItemId } from "../../src/domain/inference"
import { type Definitions, newRows } from "../../src/domain/model"
import { CustomerSnapshot, SessionActor } from "../../src/sessions/SessionActor"
import { fieldDef, SETTINGS } from "../support/actors"

const def = fieldDef

const DEFINITIONS: Definitions = new Map(
  [
    def("plan"),
    def("email", { value_type: "email", scope: "IDENTITY" }),
    def("mood", { scope: "SESSION" })
  ].map((d) => [d.name, d])
)

const at = (second: number) => new Date(Date.UTC(2024, 4, 1, 10, 0, second)).toISOString()

const turn = (n: number, candidates: TurnCompleted["candidate_variables"] = {}): TurnCompleted => ({
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
  candidate_variables: candidates,
  matched_rules: [],
  scenario: null,
  tool_executions: [],
  enforcement: null
})

const inferred = (value: unknown, confidence = 0.9, turnId = "turn-1"): InferredVariable => ({
  value,
  confidence,
  needs_human_review: confidence < 0.8,
  derived_from: [`turn:${turnId}`]
})

const extraction = (n: number, variables: Record<string, InferredVariable>): ExtractionCompleted => ({
  schema_version: 1,
  event_type: "extraction.completed",
  event_id: `extraction:turn-${n}`,
  tenant_id: "t1",
  agent_id: "a1",
  session_id: "s1",
  customer_id: "c1",
  occurred_at: at(n),
  turn_id: `turn-${n}`,
  template: "entity-extraction@1",
  model: "test-model",
  candidate_variables: variables
})

const actor = () => new SessionActor("t1", "s1", null, new CustomerSnapshot(), DEFINITIONS)

describe("extraction.completed", () => {
  it("stores a valid inferred value as current, with inference lineage, template and model", () => {
    const a = actor()
    a.handleTurn(turn(1), SETTINGS, false)
    const effects = a.handleExtraction(extraction(1, { email: inferred("jane@example.com") }), SETTINGS)
    const [row] = newRows(effects.profileWrites)
    expect(row).toMatchObject({
      name: "email",
      value: "jane@example.com",
      source: "INFERENCE",
      confidence: 0.9,
      status: "active",
      source_item_type: "inference",
      source_item_id: inferenceItemId("turn-1"),
      updated_at: at(1),
      source_metadata: {
        derived_from: ["turn:turn-1"],
        turn_id: "turn-1",
        template: "entity-extraction@1",
        model: "test-model"
      }
    })
    expect(a.customer.profile.get("email")?.source).toBe("INFERENCE")
    expect(effects.session).toBeNull()
    expect(effects.record).toBeNull()
  })

  it("drops an invalid value and a session-only field per field, keeping the rest", () => {
    const a = actor()
    const effects = a.handleExtraction(
      extraction(1, {
        email: inferred("not an email"),
        mood: inferred("happy"),
        plan: inferred("gold"),
        ghost: inferred(1)
      }),
      SETTINGS
    )
    const statuses = Object.fromEntries(effects.customerData!.updates.map((u) => [u.field_name, u.status]))
    expect(statuses).toEqual({
      email: "rejected",
      mood: "rejected",
      plan: "persisted",
      ghost: "unknown_field"
    })
    expect(newRows(effects.profileWrites).map((r) => r.name)).toEqual(["plan"])
  })

  it("holds a value that needs review as pending_review, never current, unless configured to activate", () => {
    const held = actor()
    const effects = held.handleExtraction(extraction(1, { plan: inferred("gold", 0.5) }), SETTINGS)
    expect(newRows(effects.profileWrites)[0]?.status).toBe("pending_review")
    expect(held.customer.profile.has("plan")).toBe(false)

    const activated = actor()
    const applied = activated.handleExtraction(extraction(1, { plan: inferred("gold", 0.5) }), {
      ...SETTINGS,
      activateUnreviewed: true
    })
    expect(newRows(applied.profileWrites)[0]?.status).toBe("active")
    expect(activated.customer.profile.get("plan")?.value).toBe("gold")
  })

  it("never overrules what its own turn stated, and loses to a later turn's value", () => {
    const a = actor()
    a.handleTurn(turn(1, { plan: { value: "basic" } }), SETTINGS, false)
    const same = a.handleExtraction(extraction(1, { plan: inferred("gold") }), SETTINGS)
    expect(same.profileWrites).toEqual([])
    expect(a.customer.profile.get("plan")?.value).toBe("basic")

    a.handleTurn(turn(3, { plan: { value: "premium" } }), SETTINGS, false)
    const late = a.handleExtraction(extraction(2, { plan: inferred("gold", 0.9, "turn-2") }), SETTINGS)
    expect(a.customer.profile.get("plan")?.value).toBe("premium")
    expect(late.customerData!.profileChanges.size).toBe(0)
    expect(newRows(late.profileWrites)[0]?.name).toBe("plan")
  })

  it("is a no-op when delivered again", () => {
    const a = actor()
    a.handleExtraction(extraction(1, { plan: inferred("gold") }), SETTINGS)
    const again = a.handleExtraction(extraction(1, { plan: inferred("gold") }), SETTINGS)
    expect(again.profileWrites).toEqual([])
    expect(again.customerData!.updates.map((u) => u.status)).toEqual(["unchanged"])
  })
})
