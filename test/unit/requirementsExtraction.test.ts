// Requirement extraction's rules: which proposals of an answer are kept and which need review,
// the extractor that needs no model, and the retry policy of a model request (on TestClock).
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, Schema, TestClock } from "effect"
import { Scenario } from "../../schemas"
import { askWithRetries } from "../../src/app/commands/requirementsExtract"
import {
  extractRequirementsByRules,
  judgeAnswer,
  parseRequirementsAnswer,
  RULES_CONFIDENCE
} from "../../src/domain/requirementsExtraction"
import { type ChatAnswer, LlmError, type LlmProviderService } from "../../src/ports/LlmProvider"

const scenario = Schema.decodeUnknownSync(Scenario)({
  tenant_id: "t1",
  agent_id: "a1",
  scenario_id: "upgrade",
  conditions: ["the company name is known"],
  steps: [
    { step_id: "eligibility", conditions: ["seats is above 10", "the contract has not ended"] },
    { step_id: "confirm", conditions: ["the customer emailed us"] }
  ]
})
const defined = new Set(["company_name", "seats", "email"])

describe("judgeAnswer", () => {
  it("keeps sound proposals, flags doubtful ones and drops the rest with a reason", () => {
    const judged = judgeAnswer(
      {
        requirements: [
          { step_id: "eligibility", field_name: "seats", confidence: 0.95, reason: "seats is above 10" },
          { step_id: "eligibility", field_name: "seats", confidence: 0.5 },
          { step_id: null, field_name: "company_name", fallback_action: "block", confidence: 0.7 },
          { step_id: "eligibility", field_name: "contract_end_date", confidence: 0.9 },
          { step_id: "nowhere", field_name: "seats", confidence: 0.9 },
          { field_name: "loyalty_tier", confidence: 0.9 },
          { step_id: "confirm", field_name: "email", fallback_action: "shout", confidence: 0.9 }
        ],
        new_fields: [
          { name: "contract_end_date", value_type: "date", scope: "BUSINESS", confidence: 0.6 },
          { name: "seats", value_type: "integer", scope: "BUSINESS", confidence: 0.9 },
          { name: "mood", value_type: "feeling", scope: "SESSION", confidence: 0.9 }
        ]
      },
      scenario,
      defined
    )
    expect(
      judged.requirements.map((p) => [
        p.requirement.step_id ?? null,
        p.requirement.field_name,
        p.requirement.fallback_action,
        p.confidence,
        p.needs_human_review
      ])
    ).toEqual([
      // the more confident of the two
      ["eligibility", "seats", "ask", 0.95, false],
      [null, "company_name", "block", 0.7, true],
      // on a proposed field: as doubtful as the field (0.6)
      ["eligibility", "contract_end_date", "ask", 0.9, true]
    ])
    expect(judged.requirements[0]!.requirement).toMatchObject({
      tenant_id: "t1",
      agent_id: "a1",
      scenario_id: "upgrade",
      required_level: "required",
      version: 1
    })
    expect(judged.field_definitions.map((p) => [p.definition.name, p.needs_human_review])).toEqual([
      ["contract_end_date", true]
    ])
    expect(judged.field_definitions[0]!.definition).toMatchObject({
      tenant_id: "t1",
      agent_id: "a1",
      persist: true
    })
    expect(judged.dropped.map((d) => [d.kind, d.reason.split("\n")[0]])).toEqual([
      ["field_definition", "the agent defines seats already"],
      ["field_definition", expect.stringContaining("")],
      ["requirement", "the scenario has no step nowhere"],
      ["requirement", "the agent defines no field loyalty_tier and none was proposed"],
      ["requirement", expect.stringContaining("")]
    ])
    expect(judged.dropped[1]!.reason).toContain("feeling")
    expect(judged.dropped[4]!.reason).toContain("shout")
  })
})

describe("parseRequirementsAnswer", () => {
  it("takes an object with a requirements list and nothing else", () => {
    expect(Either.isRight(parseRequirementsAnswer('{"requirements": []}'))).toBe(true)
    expect(parseRequirementsAnswer("here you go: {}")).toEqual(Either.left("the answer is not JSON"))
    expect(Either.isLeft(parseRequirementsAnswer('{"fields": []}'))).toBe(true)
  })
})

describe("extractRequirementsByRules", () => {
  it("requires a field its scenario's or step's conditions name, by name or with spaces", () => {
    const answer = extractRequirementsByRules(scenario, [...defined])
    expect(answer.requirements).toEqual([
      {
        step_id: null,
        field_name: "company_name",
        reason: 'named in the condition "the company name is known"',
        confidence: RULES_CONFIDENCE
      },
      {
        step_id: "eligibility",
        field_name: "seats",
        reason: 'named in the condition "seats is above 10"',
        confidence: RULES_CONFIDENCE
      }
      // "emailed" does not name `email`: whole words only
    ])
    expect(answer.new_fields).toEqual([])
  })
})

describe("askWithRetries", () => {
  const answer: ChatAnswer = { content: "{}", model: "m", tokensIn: 1, tokensOut: 1 }
  /** A provider failing with `errors` in turn, then answering; it counts the requests. */
  const provider = (errors: ReadonlyArray<LlmError>) => {
    let calls = 0
    const service: LlmProviderService = {
      complete: () =>
        Effect.suspend(() => {
          const error = errors[calls++]
          return error === undefined ? Effect.succeed(answer) : Effect.fail(error)
        })
    }
    return { service, calls: () => calls }
  }
  const request = { system: "s", user: "u", json: true }

  it.effect("waits the provider's Retry-After before trying again", () =>
    Effect.gen(function* () {
      const p = provider([new LlmError({ kind: "rate_limited", message: "429", retryAfterMs: 5_000 })])
      const fiber = yield* Effect.fork(askWithRetries(p.service, request))
      yield* TestClock.adjust("4999 millis")
      expect(p.calls()).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toEqual(answer)
      expect(p.calls()).toBe(2)
    })
  )

  it.effect("backs off 1 s then 2 s, and gives up after three tries", () =>
    Effect.gen(function* () {
      const busy = () => new LlmError({ kind: "server", message: "500" })
      const p = provider([busy(), busy(), busy()])
      const fiber = yield* Effect.fork(Effect.either(askWithRetries(p.service, request)))
      yield* TestClock.adjust("1 seconds")
      expect(p.calls()).toBe(2)
      yield* TestClock.adjust("2 seconds")
      const result = yield* Fiber.join(fiber)
      expect(p.calls()).toBe(3)
      expect(Either.isLeft(result) && result.left.kind).toBe("server")
    })
  )

  it.effect("does not try a refused request again", () =>
    Effect.gen(function* () {
      const p = provider([new LlmError({ kind: "refused", message: "401", status: 401 })])
      const result = yield* Effect.either(askWithRetries(p.service, request))
      expect(Either.isLeft(result) && result.left.kind).toBe("refused")
      expect(p.calls()).toBe(1)
    })
  )
})
