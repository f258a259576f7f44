import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { ScenarioState, TurnCompleted } from "../../schemas"
import { computeOutcome } from "../../src/domain/outcome"

const turn = (overrides: Partial<TurnCompleted> = {}): TurnCompleted => ({
  schema_version: 1,
  event_type: "turn.completed",
  event_id: "e1",
  tenant_id: "t1",
  agent_id: "a1",
  session_id: "s1",
  customer_id: "c1",
  occurred_at: "2024-05-01T10:00:00Z",
  turn_id: "turn-1",
  turn_number: 1,
  user_message: "hi",
  agent_response: "hello",
  candidate_variables: {},
  matched_rules: [{ rule_id: "greeting" }],
  scenario: null,
  tool_executions: [],
  enforcement: null,
  ...overrides
})

const awaiting = (overrides: Partial<ScenarioState> = {}): ScenarioState => ({
  awaiting_user_input: true,
  active_scenario_id: "refund",
  current_step_id: "ask-order",
  ...overrides
})

describe("categories", () => {
  it("a plain turn with a matched rule has no category and is RESOLVED", () => {
    expect(computeOutcome(turn())).toStrictEqual({ resolution: "RESOLVED", categories: [] })
  })

  it("MATCHED_ZERO_RULES when no rule matched", () => {
    expect(computeOutcome(turn({ matched_rules: [] }))).toStrictEqual({
      resolution: "RESOLVED",
      categories: [{ category: "MATCHED_ZERO_RULES", source: "PIPELINE" }]
    })
  })

  it("AWAITING_USER_INPUT carries the scenario and step ids", () => {
    expect(computeOutcome(turn({ scenario: awaiting() }))).toStrictEqual({
      resolution: "PARTIAL",
      categories: [
        { category: "AWAITING_USER_INPUT", source: "PIPELINE", scenario_id: "refund", step_id: "ask-order" }
      ]
    })
  })

  it.each<readonly [string, ScenarioState, Record<string, string>]>([
    ["both ids null", { awaiting_user_input: true, active_scenario_id: null, current_step_id: null }, {}],
    ["both ids absent", { awaiting_user_input: true }, {}],
    ["only the scenario id", awaiting({ current_step_id: null }), { scenario_id: "refund" }],
    [
      "only the step id",
      { awaiting_user_input: true, current_step_id: "ask-order" },
      { step_id: "ask-order" }
    ]
  ])("AWAITING_USER_INPUT includes ids only when present: %s", (_, scenario, ids) => {
    expect(computeOutcome(turn({ scenario })).categories).toStrictEqual([
      { category: "AWAITING_USER_INPUT", source: "PIPELINE", ...ids }
    ])
  })

  it("a scenario that does not await input adds no category and does not make the turn PARTIAL", () => {
    expect(computeOutcome(turn({ scenario: awaiting({ awaiting_user_input: false }) }))).toStrictEqual({
      resolution: "RESOLVED",
      categories: []
    })
  })

  it("SYSTEM_ERROR once when any tool execution failed", () => {
    const outcome = computeOutcome(
      turn({
        tool_executions: [
          { tool_id: "a", success: true },
          { tool_id: "b", success: false, error: "timeout" },
          { tool_id: "c", success: false }
        ]
      })
    )
    expect(outcome).toStrictEqual({
      resolution: "RESOLVED",
      categories: [{ category: "SYSTEM_ERROR", source: "PIPELINE", details: "tool execution failed: b, c" }]
    })
  })

  it("no SYSTEM_ERROR when every tool succeeded", () => {
    const outcome = computeOutcome(turn({ tool_executions: [{ tool_id: "a", success: true, error: null }] }))
    expect(outcome.categories).toStrictEqual([])
  })

  it("POLICY_RESTRICTION when enforcement reported violations", () => {
    const outcome = computeOutcome(
      turn({ enforcement: { violations: ["pii", "tone"], blocked: false, regeneration_attempts: 1 } })
    )
    expect(outcome).toStrictEqual({
      resolution: "RESOLVED",
      categories: [{ category: "POLICY_RESTRICTION", source: "PIPELINE", details: "2 violations" }]
    })
  })

  it("no POLICY_RESTRICTION for enforcement without violations", () => {
    const outcome = computeOutcome(
      turn({ enforcement: { violations: [], blocked: false, regeneration_attempts: 0 } })
    )
    expect(outcome.categories).toStrictEqual([])
  })
})

describe("resolution", () => {
  it("UNRESOLVED when enforcement blocked the response, even without violations", () => {
    expect(
      computeOutcome(turn({ enforcement: { violations: [], blocked: true, regeneration_attempts: 3 } }))
    ).toStrictEqual({ resolution: "UNRESOLVED", categories: [] })
  })

  it("blocked and awaiting input is UNRESOLVED, with both facts among the categories", () => {
    expect(
      computeOutcome(
        turn({
          scenario: awaiting(),
          enforcement: { violations: ["pii"], blocked: true, regeneration_attempts: 2 }
        })
      )
    ).toStrictEqual({
      resolution: "UNRESOLVED",
      categories: [
        { category: "AWAITING_USER_INPUT", source: "PIPELINE", scenario_id: "refund", step_id: "ask-order" },
        { category: "POLICY_RESTRICTION", source: "PIPELINE", details: "1 violation" }
      ]
    })
  })

  it("tool failures and zero rules do not change the resolution", () => {
    expect(
      computeOutcome(turn({ matched_rules: [], tool_executions: [{ tool_id: "a", success: false }] }))
        .resolution
    ).toBe("RESOLVED")
  })

  it("all categories together, in the order of DESIGN 3.4", () => {
    const outcome = computeOutcome(
      turn({
        matched_rules: [],
        scenario: awaiting(),
        tool_executions: [{ tool_id: "a", success: false }],
        enforcement: { violations: ["pii"], blocked: false, regeneration_attempts: 0 }
      })
    )
    expect(outcome).toStrictEqual({
      resolution: "PARTIAL",
      categories: [
        { category: "MATCHED_ZERO_RULES", source: "PIPELINE" },
        { category: "AWAITING_USER_INPUT", source: "PIPELINE", scenario_id: "refund", step_id: "ask-order" },
        { category: "SYSTEM_ERROR", source: "PIPELINE", details: "tool execution failed: a" },
        { category: "POLICY_RESTRICTION", source: "PIPELINE", details: "1 violation" }
      ]
    })
  })

  it.prop(
    "categories and resolution follow the rules for any combination",
    [
      fc.boolean(),
      fc.option(fc.boolean(), { nil: null }),
      fc.array(fc.boolean(), { maxLength: 4 }),
      fc.option(fc.record({ violations: fc.array(fc.string(), { maxLength: 3 }), blocked: fc.boolean() }), {
        nil: null
      })
    ],
    ([noRules, awaitingInput, toolSuccesses, enforcement]) => {
      const outcome = computeOutcome(
        turn({
          matched_rules: noRules ? [] : [{ rule_id: "r" }],
          scenario: awaitingInput === null ? null : awaiting({ awaiting_user_input: awaitingInput }),
          tool_executions: toolSuccesses.map((success, i) => ({ tool_id: `tool-${i}`, success })),
          enforcement: enforcement === null ? null : { ...enforcement, regeneration_attempts: 0 }
        })
      )
      const expected = [
        noRules && "MATCHED_ZERO_RULES",
        awaitingInput === true && "AWAITING_USER_INPUT",
        toolSuccesses.includes(false) && "SYSTEM_ERROR",
        (enforcement?.violations.length ?? 0) > 0 && "POLICY_RESTRICTION"
      ].filter((c) => c !== false)
      expect(outcome.categories.map((c) => c.category)).toStrictEqual(expected)
      expect(outcome.resolution).toBe(
        enforcement?.blocked === true ? "UNRESOLVED" : awaitingInput === true ? "PARTIAL" : "RESOLVED"
      )
    }
  )
})
