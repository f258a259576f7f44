/**
 * Scenario field requirements (background 004 `ScenarioFieldRequirement`): which fields a scenario,
 * or one of its steps, needs from the customer, and what the agent does while one is missing.
 * Loaded with `turnvault requirements import REQS.json`, versioned and hot-reloaded like field
 * definitions (DESIGN 3.1).
 */
import { Schema } from "effect"

const NonEmpty = (max: number) =>
  Schema.String.pipe(Schema.minLength(1), Schema.maxLength(max)).annotations({
    title: `non-empty string of at most ${max} characters`,
    description: `a string of 1 to ${max} UTF-16 code units`
  })

export const RequiredLevel = Schema.Literal("required", "optional")
export type RequiredLevel = typeof RequiredLevel.Type

/** What the agent runtime does while a required field is missing. */
export const FallbackAction = Schema.Literal("ask", "skip", "escalate", "block")
export type FallbackAction = typeof FallbackAction.Type

export const ScenarioFieldRequirement = Schema.Struct({
  tenant_id: NonEmpty(128),
  agent_id: NonEmpty(128),
  scenario_id: NonEmpty(256),
  step_id: Schema.optional(
    NonEmpty(256).annotations({ description: "the step it applies to; absent: every step of the scenario" })
  ),
  field_name: NonEmpty(128).annotations({ description: "a field definition's name" }),
  required_level: Schema.optionalWith(RequiredLevel.annotations({ description: "default required" }), {
    default: () => "required" as const
  }),
  fallback_action: Schema.optionalWith(FallbackAction.annotations({ description: "default ask" }), {
    default: () => "ask" as const
  }),
  description: Schema.optional(Schema.String),
  version: Schema.optionalWith(
    Schema.Number.pipe(Schema.int(), Schema.positive()).annotations({
      description: "default 1; the store bumps it when an import changes the requirement"
    }),
    { default: () => 1 }
  )
}).annotations({ identifier: "ScenarioFieldRequirement", title: "turnvault scenario field requirement" })
export type ScenarioFieldRequirement = typeof ScenarioFieldRequirement.Type

/** The REQS.json file: an array of requirements. */
export const ScenarioFieldRequirements = Schema.Array(ScenarioFieldRequirement).annotations({
  identifier: "ScenarioFieldRequirements",
  title: "turnvault scenario requirements file"
})
