/**
 * Scenario requirement extraction (issue 15; background 004's ProfileItemSchemaExtractor), the
 * rules only: the JSON a model must answer with, which of its proposals are kept (a known step,
 * a field the agent defines or one the answer proposes soundly, valid levels and actions) and
 * which need a human's review, and the extractor that needs no model.
 */
import { Either, ParseResult, Schema } from "effect"
import {
  FallbackAction,
  FieldDefinition,
  RequiredLevel,
  type DroppedProposal,
  type FieldDefinitionProposal,
  type RequirementProposal,
  type Scenario
} from "../../schemas"
import { parseJsonAnswer, REVIEW_BELOW } from "./extraction"

const Confidence = Schema.Number.pipe(Schema.between(0, 1))

/** One requirement as the model proposes it. */
const AnsweredRequirement = Schema.Struct({
  step_id: Schema.optional(Schema.NullOr(Schema.String)),
  field_name: Schema.String,
  required_level: Schema.optional(RequiredLevel),
  fallback_action: Schema.optional(FallbackAction),
  reason: Schema.optional(Schema.String),
  confidence: Confidence
})

/** One missing field as the model proposes it. */
const AnsweredField = Schema.Struct({
  name: Schema.String,
  value_type: Schema.String,
  scope: Schema.String,
  description: Schema.optional(Schema.String),
  collection_prompt: Schema.optional(Schema.String),
  is_pii: Schema.optional(Schema.Boolean),
  reason: Schema.optional(Schema.String),
  confidence: Confidence
})

/** The answer's shape; its items are judged one by one (an unsound item is dropped, not the answer). */
export const RequirementsAnswer = Schema.Struct({
  requirements: Schema.Array(Schema.Unknown),
  new_fields: Schema.optionalWith(Schema.Array(Schema.Unknown), { default: () => [] })
})
export type RequirementsAnswer = typeof RequirementsAnswer.Type

/** The answer's text as a RequirementsAnswer, or why it is not one. */
export const parseRequirementsAnswer = parseJsonAnswer(RequirementsAnswer)

export interface JudgedProposals {
  readonly requirements: ReadonlyArray<RequirementProposal>
  readonly field_definitions: ReadonlyArray<FieldDefinitionProposal>
  readonly dropped: ReadonlyArray<DroppedProposal>
}

const problem = (error: ParseResult.ParseError) => ParseResult.TreeFormatter.formatErrorSync(error)

/**
 * Keeps each proposal that is sound: a new field must be a valid definition (as `definitions
 * import` would take it) of a name the agent does not define yet; a requirement must name a step
 * of the scenario (or none: every step) and a field the agent defines or a kept new field. A
 * requirement proposed twice keeps its most confident version.
 */
export const judgeAnswer = (
  answer: RequirementsAnswer,
  scenario: Scenario,
  defined: ReadonlySet<string>
): JudgedProposals => {
  const dropped: Array<DroppedProposal> = []
  const fields = new Map<string, FieldDefinitionProposal>()
  for (const item of answer.new_fields) {
    const answered = Schema.decodeUnknownEither(AnsweredField)(item)
    if (Either.isLeft(answered)) {
      dropped.push({ kind: "field_definition", item, reason: problem(answered.left) })
      continue
    }
    const { confidence, reason, ...field } = answered.right
    if (defined.has(field.name)) {
      dropped.push({ kind: "field_definition", item, reason: `the agent defines ${field.name} already` })
      continue
    }
    const definition = Schema.decodeUnknownEither(FieldDefinition)({
      ...field,
      tenant_id: scenario.tenant_id,
      agent_id: scenario.agent_id
    })
    if (Either.isLeft(definition)) {
      dropped.push({ kind: "field_definition", item, reason: problem(definition.left) })
      continue
    }
    const previous = fields.get(field.name)
    if (previous !== undefined && previous.confidence >= confidence) continue
    fields.set(field.name, {
      definition: definition.right,
      confidence,
      needs_human_review: confidence < REVIEW_BELOW,
      ...(reason === undefined ? {} : { reason })
    })
  }

  const steps = new Set(scenario.steps.map((s) => s.step_id))
  const requirements = new Map<string, RequirementProposal>()
  for (const item of answer.requirements) {
    const answered = Schema.decodeUnknownEither(AnsweredRequirement)(item)
    if (Either.isLeft(answered)) {
      dropped.push({ kind: "requirement", item, reason: problem(answered.left) })
      continue
    }
    const { step_id, field_name, required_level, fallback_action, reason, confidence } = answered.right
    if (step_id !== undefined && step_id !== null && !steps.has(step_id)) {
      dropped.push({ kind: "requirement", item, reason: `the scenario has no step ${step_id}` })
      continue
    }
    const proposedField = fields.get(field_name)
    if (!defined.has(field_name) && proposedField === undefined) {
      dropped.push({
        kind: "requirement",
        item,
        reason: `the agent defines no field ${field_name} and none was proposed`
      })
      continue
    }
    const key = `${step_id ?? ""}\u0000${field_name}`
    const previous = requirements.get(key)
    if (previous !== undefined && previous.confidence >= confidence) continue
    requirements.set(key, {
      requirement: {
        tenant_id: scenario.tenant_id,
        agent_id: scenario.agent_id,
        scenario_id: scenario.scenario_id,
        ...(step_id === undefined || step_id === null ? {} : { step_id }),
        field_name,
        required_level: required_level ?? "required",
        fallback_action: fallback_action ?? "ask",
        version: 1
      },
      confidence,
      // a requirement on a field that is only proposed is as doubtful as the field
      needs_human_review: confidence < REVIEW_BELOW || (proposedField?.needs_human_review ?? false),
      ...(reason === undefined ? {} : { reason })
    })
  }
  return { requirements: [...requirements.values()], field_definitions: [...fields.values()], dropped }
}

/** Confidence of a requirement the rules found (a field named in a condition, not a person's word). */
export const RULES_CONFIDENCE = 0.85

/** `a_field_name` also written `a field name`, as conditions in words do. */
const spellings = (name: string) => [...new Set([name, name.replaceAll("_", " ")])]

const mentions = (text: string, name: string) =>
  spellings(name).some((spelling) =>
    new RegExp(
      `(^|[^\\p{L}\\p{N}_])${spelling.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|[^\\p{L}\\p{N}_])`,
      "iu"
    ).test(text)
  )

/**
 * The extractor that needs no model: a field the agent defines is required by the scenario when
 * a scenario condition names it, and by a step when one of that step's conditions does (by its
 * name, or the name with spaces for underscores). It proposes no new fields.
 */
export const extractRequirementsByRules = (
  scenario: Scenario,
  defined: ReadonlyArray<string>
): RequirementsAnswer => {
  const found: Array<unknown> = []
  const scan = (conditions: ReadonlyArray<string>, stepId: string | null) => {
    for (const name of defined) {
      const condition = conditions.find((c) => mentions(c, name))
      if (condition !== undefined)
        found.push({
          step_id: stepId,
          field_name: name,
          reason: `named in the condition "${condition}"`,
          confidence: RULES_CONFIDENCE
        })
    }
  }
  scan(scenario.conditions, null)
  for (const step of scenario.steps) scan(step.conditions, step.step_id)
  return { requirements: found, new_fields: [] }
}
