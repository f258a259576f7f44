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
 * An identifier the stores index: 1 to `max` UTF-16 code units, so that a key of several ids stays
 * far below PostgreSQL's limit on an index row (about 2.7 KB; 3 bytes of UTF-8 per code unit at most).
 */
const Id = (max: number) =>
  Schema.String.pipe(Schema.minLength(1), Schema.maxLength(max)).annotations({
    title: `identifier of at most ${max} characters`,
    description: `a string of 1 to ${max} UTF-16 code units`
  })

/** Ids of a tenant or an agent: 1–128 code units. */
const ShortId = Id(128)
/** Ids of sessions, customers, turns, events and cases: 1–256 code units. */
const LongId = Id(256)

/** The largest turn_number the stores hold (a 32-bit signed integer column). */
export const MAX_TURN_NUMBER = 2_147_483_647

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

/** The longest candidate variable name (a field name) in UTF-16 code units. */
export const MAX_VARIABLE_NAME = 128

/** The most items one value may name as its sources. */
export const MAX_DERIVED_FROM = 64

export const CandidateVariable = Schema.Struct({
  value: Schema.Unknown.annotations({ description: "the extracted value, any JSON value" }),
  derived_from: Schema.optional(
    // 261: a `turn:` prefix (5) on an id of up to 256
    Schema.Array(Id(261)).pipe(Schema.maxItems(MAX_DERIVED_FROM)).annotations({
      description:
        "ids of the items the value was derived from: profile field ids, asset ids, or `turn:<turn_id>` for a turn; its row names them in source_metadata.derived_from. A field or asset that is deleted or never stored makes the value an orphan (the orphan job); a turn never goes"
    })
  ),
  confidence: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  source: Schema.optional(
    VariableSource.annotations({ description: "who produced the value; USER when absent" })
  )
}).annotations({ identifier: "CandidateVariable" })
export type CandidateVariable = typeof CandidateVariable.Type

/**
 * Variables by field name. A refined record key would drop a longer name as an excess property:
 * the whole record is checked.
 */
const variablesRecord = <A, I>(value: Schema.Schema<A, I>) =>
  Schema.Record({ key: Schema.String, value }).pipe(
    Schema.filter(
      (variables) =>
        Object.keys(variables).every((name) => name.length >= 1 && name.length <= MAX_VARIABLE_NAME) ||
        `a variable name must be 1 to ${MAX_VARIABLE_NAME} characters long`,
      { jsonSchema: { propertyNames: { minLength: 1, maxLength: MAX_VARIABLE_NAME } } }
    )
  )

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

/** The most assets one turn may carry. */
export const MAX_ASSETS = 32

/**
 * A file or other artefact the turn produced or received. The content stays where `uri` or
 * `inline_ref` points; an asset must carry at least one of them. The decoder checks that rule
 * after the schema (streams/decode.ts): a "one of" here would leave the fast decode path.
 */
export const ProfileAssetInput = Schema.Struct({
  asset_id: Id(256).annotations({ description: "unique per tenant; sending it again changes nothing" }),
  kind: Id(64).annotations({ description: "what it is: document, image, audio, transcript, ..." }),
  uri: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2048))),
  inline_ref: Schema.optional(
    Id(256).annotations({ description: "a reference to content carried elsewhere" })
  ),
  mime_type: Id(255),
  size_bytes: Schema.Number.pipe(Schema.int(), Schema.nonNegative()),
  sha256: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/)).annotations({
    description: "SHA-256 of the content, lower-case hex"
  }),
  derived_from_tool: Schema.optional(Id(128).annotations({ description: "the tool that produced it" }))
}).annotations({
  identifier: "ProfileAssetInput",
  description:
    "an asset must carry a uri or an inline_ref (or both); an event with one that has neither goes to the DLQ"
})
export type ProfileAssetInput = typeof ProfileAssetInput.Type

const common = {
  schema_version: Schema.Literal(1).annotations({ description: "version of this wire contract" }),
  event_id: LongId,
  tenant_id: ShortId,
  agent_id: ShortId,
  session_id: LongId.annotations({ description: "also the Kafka message key" }),
  customer_id: LongId,
  occurred_at: ZonedDateTime,
  case_id: Schema.optional(Schema.String.pipe(Schema.maxLength(256)))
}

export const TurnCompleted = Schema.Struct({
  ...common,
  event_type: Schema.Literal("turn.completed"),
  turn_id: LongId.annotations({ description: "unique per tenant; a repeated turn_id is a duplicate" }),
  turn_number: Schema.Number.pipe(
    Schema.int(),
    Schema.greaterThanOrEqualTo(1),
    Schema.lessThanOrEqualTo(MAX_TURN_NUMBER)
  ).annotations({
    description: "1-based, increasing within the session"
  }),
  user_message: Schema.String,
  agent_response: Schema.String,
  canonical_intent: Schema.optional(Schema.NullOr(Schema.String)),
  candidate_variables: variablesRecord(CandidateVariable),
  matched_rules: Schema.Array(MatchedRule),
  scenario: Schema.NullOr(ScenarioState),
  tool_executions: Schema.Array(ToolExecution),
  enforcement: Schema.NullOr(Enforcement),
  assets: Schema.optional(Schema.Array(ProfileAssetInput).pipe(Schema.maxItems(MAX_ASSETS)))
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
  case_id: LongId.annotations({ description: "the case whose CASE-scoped fields expire" })
}).annotations({ identifier: "CaseClosed", title: "case.closed" })
export type CaseClosed = typeof CaseClosed.Type

/** A value the ingest worker inferred from a turn (issue 15): always `source: INFERENCE`. */
export const InferredVariable = Schema.Struct({
  value: Schema.Unknown.annotations({ description: "the inferred value, any JSON value" }),
  confidence: Schema.Number.pipe(Schema.between(0, 1)).annotations({
    description: "the extractor's confidence that the customer stated this value"
  }),
  needs_human_review: Schema.Boolean.annotations({
    description:
      "confidence below 0.8: the value is stored with status pending_review and does not become current unless TURNVAULT_EXTRACTION_REVIEW=activate"
  }),
  derived_from: Schema.Array(Id(261))
    .pipe(Schema.minItems(1), Schema.maxItems(MAX_DERIVED_FROM))
    .annotations({
      description: "the items the value was inferred from: `turn:<turn_id>` of the turn"
    })
}).annotations({ identifier: "InferredVariable" })
export type InferredVariable = typeof InferredVariable.Type

export const ExtractionCompleted = Schema.Struct({
  ...common,
  event_type: Schema.Literal("extraction.completed"),
  occurred_at: ZonedDateTime.annotations({
    description:
      "the occurred_at of the turn the values were inferred from: an inference is as recent as what the customer said, for last-writer-wins"
  }),
  turn_id: LongId.annotations({ description: "the turn the values were inferred from" }),
  template: NonEmpty.annotations({ description: "the prompt template and its version, name@version" }),
  model: NonEmpty.annotations({
    description: "the model that answered, or `hints` for the embedded extractor"
  }),
  candidate_variables: variablesRecord(InferredVariable)
}).annotations({ identifier: "ExtractionCompleted", title: "extraction.completed" })
export type ExtractionCompleted = typeof ExtractionCompleted.Type

export const TurnEvent = Schema.Union(
  TurnCompleted,
  SessionEnded,
  CaseClosed,
  ExtractionCompleted
).annotations({
  identifier: "TurnEvent",
  title: "turnvault turn event, schema version 1",
  description:
    "One JSON object per message on turnvault.turn-events, keyed by session_id, at most TURNVAULT_MAX_EVENT_BYTES (1 MiB by default) of UTF-8. Unknown extra fields are ignored. Beyond what this schema says: no string in a listed field (property names included) may contain U+0000 or a lone UTF-16 surrogate, and the event nests at most 32 levels deep."
})
export type TurnEvent = typeof TurnEvent.Type
