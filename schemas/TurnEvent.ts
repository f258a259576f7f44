/**
 * Wire contract of the input topic `turnvault.turn-events`, version 1 (DESIGN section 8).
 * Producers in any language validate against the JSON Schema generated from these definitions.
 */
import { Schema } from "effect"

const NonEmpty = Schema.String.pipe(Schema.minLength(1)).annotations({
  title: "non-empty string",
  description: "a string at least 1 character long"
})

/**
 * ISO 8601 date-time that carries a zone (`Z` or `±hh:mm`). The pattern bounds every component so the
 * generated JSON Schema rejects what `Date.parse` rejects; only impossible days such as 02-30 slip past
 * it. No `format: "date-time"`: RFC 3339 validators would reject the optional seconds allowed here.
 */
export const ZonedDateTime = Schema.String.pipe(
  Schema.pattern(
    /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)$/
  ),
  Schema.filter((s) => !Number.isNaN(Date.parse(s)) || "not a valid date-time", { jsonSchema: {} }),
  Schema.annotations({
    title: "zoned date-time",
    description: "ISO 8601 date-time with a zone offset or Z",
    examples: ["2024-05-01T10:15:00Z", "2024-05-01T12:15:00.250+02:00"]
  })
)

export const VariableSource = Schema.Literal("USER", "TOOL", "INFERENCE", "SYSTEM")
export type VariableSource = typeof VariableSource.Type

export const CandidateVariable = Schema.Struct({
  value: Schema.Unknown.annotations({ description: "the extracted value, any JSON value" }),
  confidence: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  source: Schema.optional(
    VariableSource.annotations({ description: "who produced the value; USER when absent" })
  )
}).annotations({ identifier: "CandidateVariable" })
export type CandidateVariable = typeof CandidateVariable.Type

export const MatchedRule = Schema.Struct({
  rule_id: NonEmpty,
  score: Schema.optional(Schema.Number)
}).annotations({ identifier: "MatchedRule" })

export const LifecycleDecision = Schema.Literal("START", "CONTINUE", "EXIT", "PAUSE")

export const StepTransition = Schema.Struct({
  from_step: Schema.NullOr(Schema.String),
  to_step: Schema.String,
  reason: Schema.optional(Schema.String)
})

export const ScenarioState = Schema.Struct({
  active_scenario_id: Schema.optional(Schema.NullOr(Schema.String)),
  current_step_id: Schema.optional(Schema.NullOr(Schema.String)),
  awaiting_user_input: Schema.Boolean,
  lifecycle_decisions: Schema.optional(Schema.Record({ key: Schema.String, value: LifecycleDecision })),
  step_transitions: Schema.optional(Schema.Record({ key: Schema.String, value: StepTransition }))
}).annotations({ identifier: "ScenarioState" })
export type ScenarioState = typeof ScenarioState.Type

export const ToolExecution = Schema.Struct({
  tool_id: NonEmpty,
  success: Schema.Boolean,
  error: Schema.optional(Schema.NullOr(Schema.String)),
  duration_ms: Schema.optional(Schema.Number.pipe(Schema.nonNegative()))
}).annotations({ identifier: "ToolExecution" })
export type ToolExecution = typeof ToolExecution.Type

export const Enforcement = Schema.Struct({
  violations: Schema.Array(Schema.String),
  blocked: Schema.Boolean,
  regeneration_attempts: Schema.Number.pipe(Schema.int(), Schema.nonNegative())
}).annotations({ identifier: "Enforcement" })
export type Enforcement = typeof Enforcement.Type

const common = {
  schema_version: Schema.Literal(1).annotations({ description: "version of this wire contract" }),
  event_id: NonEmpty,
  tenant_id: NonEmpty,
  agent_id: NonEmpty,
  session_id: NonEmpty.annotations({ description: "also the Kafka message key" }),
  customer_id: NonEmpty,
  occurred_at: ZonedDateTime,
  case_id: Schema.optional(Schema.String)
}

export const TurnCompleted = Schema.Struct({
  ...common,
  event_type: Schema.Literal("turn.completed"),
  turn_id: NonEmpty.annotations({ description: "unique per tenant; a repeated turn_id is a duplicate" }),
  turn_number: Schema.Number.pipe(Schema.int(), Schema.greaterThanOrEqualTo(1)).annotations({
    description: "1-based, increasing within the session"
  }),
  user_message: Schema.String,
  agent_response: Schema.String,
  canonical_intent: Schema.optional(Schema.NullOr(Schema.String)),
  candidate_variables: Schema.Record({ key: Schema.String, value: CandidateVariable }),
  matched_rules: Schema.Array(MatchedRule),
  scenario: Schema.NullOr(ScenarioState),
  tool_executions: Schema.Array(ToolExecution),
  enforcement: Schema.NullOr(Enforcement)
}).annotations({ identifier: "TurnCompleted", title: "turn.completed" })
export type TurnCompleted = typeof TurnCompleted.Type

export const SessionEnded = Schema.Struct({
  ...common,
  event_type: Schema.Literal("session.ended"),
  reason: Schema.Literal("ENDED", "ABANDONED").annotations({ description: "the session's new status" })
}).annotations({ identifier: "SessionEnded", title: "session.ended" })
export type SessionEnded = typeof SessionEnded.Type

export const CaseClosed = Schema.Struct({
  ...common,
  event_type: Schema.Literal("case.closed"),
  case_id: NonEmpty.annotations({ description: "the case whose CASE-scoped fields expire" })
}).annotations({ identifier: "CaseClosed", title: "case.closed" })
export type CaseClosed = typeof CaseClosed.Type

export const TurnEvent = Schema.Union(TurnCompleted, SessionEnded, CaseClosed).annotations({
  identifier: "TurnEvent",
  title: "turnvault turn event, schema version 1",
  description:
    "One JSON object per message on turnvault.turn-events, keyed by session_id. Unknown extra fields are ignored."
})
export type TurnEvent = typeof TurnEvent.Type
