/**
 * What `turnvault requirements extract` reads and writes (issue 15; background 004's
 * ProfileItemSchemaExtractor). It reads a scenario: its conditions, and its steps with theirs, in
 * words. It writes the proposals a model (or the rules that need none) made from it: scenario
 * field requirements and definitions of fields the agent lacks, each with the confidence behind
 * it and `needs_human_review` below 0.8, for a person to review before they are imported.
 */
import { Schema } from "effect"
import { FieldDefinition } from "./FieldDefinition"
import { ScenarioFieldRequirement } from "./ScenarioRequirement"

const NonEmpty = (max: number) =>
  Schema.String.pipe(Schema.minLength(1), Schema.maxLength(max)).annotations({
    title: `non-empty string of at most ${max} characters`,
    description: `a string of 1 to ${max} UTF-16 code units`
  })

const Conditions = Schema.optionalWith(
  Schema.Array(Schema.String).annotations({
    description: "conditions in words, e.g. 'the customer is at least 18 and holds an active policy'"
  }),
  { default: () => [] }
)

export const ScenarioStep = Schema.Struct({
  step_id: NonEmpty(256),
  description: Schema.optional(Schema.String),
  conditions: Conditions
}).annotations({ identifier: "ScenarioStep" })
export type ScenarioStep = typeof ScenarioStep.Type

/** The SCENARIO.json file. */
export const Scenario = Schema.Struct({
  tenant_id: NonEmpty(128),
  agent_id: NonEmpty(128),
  scenario_id: NonEmpty(256),
  name: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String),
  conditions: Conditions,
  steps: Schema.optionalWith(Schema.Array(ScenarioStep), { default: () => [] })
}).annotations({ identifier: "Scenario", title: "turnvault scenario (requirements extract)" })
export type Scenario = typeof Scenario.Type

const Judged = {
  confidence: Schema.Number.pipe(Schema.between(0, 1)),
  needs_human_review: Schema.Boolean.annotations({ description: "confidence below 0.8" }),
  reason: Schema.optional(Schema.String.annotations({ description: "why the model proposed it" }))
}

export const RequirementProposal = Schema.Struct({
  requirement: ScenarioFieldRequirement,
  ...Judged
}).annotations({ identifier: "RequirementProposal" })
export type RequirementProposal = typeof RequirementProposal.Type

export const FieldDefinitionProposal = Schema.Struct({
  definition: FieldDefinition,
  ...Judged
}).annotations({ identifier: "FieldDefinitionProposal" })
export type FieldDefinitionProposal = typeof FieldDefinitionProposal.Type

/** What was in the answer and not proposed, and why. */
export const DroppedProposal = Schema.Struct({
  kind: Schema.Literal("requirement", "field_definition"),
  item: Schema.Unknown,
  reason: Schema.String
}).annotations({ identifier: "DroppedProposal" })
export type DroppedProposal = typeof DroppedProposal.Type

/** The proposals file `requirements extract` writes. */
export const RequirementProposals = Schema.Struct({
  tenant_id: Schema.String,
  agent_id: Schema.String,
  scenario_id: Schema.String,
  generated_at: Schema.String,
  template: Schema.NullOr(
    Schema.String.annotations({ description: "name@version of the prompt template; null for the rules" })
  ),
  extractor: Schema.String.annotations({
    description: "the model that answered, or `rules` (field names in the conditions, no model)"
  }),
  requirements: Schema.Array(RequirementProposal),
  field_definitions: Schema.Array(FieldDefinitionProposal),
  dropped: Schema.Array(DroppedProposal)
}).annotations({ identifier: "RequirementProposals", title: "turnvault requirement proposals" })
export type RequirementProposals = typeof RequirementProposals.Type
