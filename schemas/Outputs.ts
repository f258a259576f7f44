/**
 * Wire contracts of what turnvault publishes: turn records (`turnvault.turn-records`),
 * memory-ingestion tasks (`turnvault.memory-ingestion`) and telemetry (`turnvault.telemetry`).
 * Every message carries `turn_id` (or `event_id`) so consumers can de-duplicate.
 */
import { Schema } from "effect"
import { Scope } from "./FieldDefinition"
import { FallbackAction } from "./ScenarioRequirement"
import { MatchedRule, ScenarioState, ToolExecution } from "./TurnEvent"

export const Resolution = Schema.Literal("RESOLVED", "PARTIAL", "UNRESOLVED")
export type Resolution = typeof Resolution.Type

export const OutcomeCategory = Schema.Literal(
  "MATCHED_ZERO_RULES",
  "AWAITING_USER_INPUT",
  "SYSTEM_ERROR",
  "POLICY_RESTRICTION"
)
export type OutcomeCategory = typeof OutcomeCategory.Type

export const CategoryEntry = Schema.Struct({
  category: OutcomeCategory,
  /** Who decided the category: PIPELINE, turnvault's rules of DESIGN 3.4 (absent on older records). */
  source: Schema.optional(Schema.Literal("PIPELINE")),
  scenario_id: Schema.optional(Schema.String),
  step_id: Schema.optional(Schema.String),
  /** What the event says behind it: the failed tools, the violations. */
  details: Schema.optional(Schema.String)
})
export type CategoryEntry = typeof CategoryEntry.Type

export const TurnOutcome = Schema.Struct({
  resolution: Resolution,
  categories: Schema.Array(CategoryEntry)
}).annotations({ identifier: "TurnOutcome" })
export type TurnOutcome = typeof TurnOutcome.Type

export const UpdateStatus = Schema.Literal(
  "persisted",
  "session_only",
  "unchanged",
  "rejected",
  "unknown_field"
)
export type UpdateStatus = typeof UpdateStatus.Type

export const CustomerDataUpdate = Schema.Struct({
  field_name: Schema.String,
  status: UpdateStatus,
  scope: Schema.optional(Scope),
  is_update: Schema.optional(Schema.Boolean),
  validation_error: Schema.optional(Schema.String)
})
export type CustomerDataUpdate = typeof CustomerDataUpdate.Type

/** A required field of the session's scenario step that the customer has not given yet. */
export const MissingField = Schema.Struct({
  field_name: Schema.String,
  fallback_action: FallbackAction
}).annotations({ identifier: "MissingField" })
export type MissingField = typeof MissingField.Type

const missingFields = Schema.optional(
  Schema.Array(MissingField).annotations({
    description:
      "required fields of the active scenario step that are neither active profile fields nor session variables after the turn, by field_name"
  })
)

/** The append-only audit record of one turn; `hash` chains to the session's previous record. */
export const TurnRecord = Schema.Struct({
  tenant_id: Schema.String,
  agent_id: Schema.String,
  session_id: Schema.String,
  customer_id: Schema.String,
  case_id: Schema.optional(Schema.String),
  turn_id: Schema.String,
  turn_number: Schema.Number,
  occurred_at: Schema.String,
  canonical_intent: Schema.NullOr(Schema.String),
  outcome: TurnOutcome,
  customer_data_updates: Schema.Array(CustomerDataUpdate),
  matched_rule_ids: Schema.Array(Schema.String),
  tool_failures: Schema.Number,
  policy_violations: Schema.Array(Schema.String),
  /*
   * The turn's phase decisions as the event reported them (absent on records written before they
   * were kept). `matched_rule_ids`, `tool_failures` and `policy_violations` stay for v1 consumers.
   */
  matched_rules: Schema.optional(
    Schema.Array(MatchedRule).annotations({ description: "the matched rules with their scores" })
  ),
  scenario: Schema.optional(
    Schema.NullOr(ScenarioState).annotations({
      description:
        "active scenario and step, awaiting_user_input, lifecycle decisions and step transitions per scenario"
    })
  ),
  tool_executions: Schema.optional(
    Schema.Array(ToolExecution).annotations({
      description: "every tool execution: id, success, error, duration"
    })
  ),
  enforcement: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        blocked: Schema.Boolean,
        regeneration_attempts: Schema.Number
      })
    ).annotations({
      description: "the enforcement result; its violations are policy_violations"
    })
  ),
  missing_fields: missingFields,
  prev_hash: Schema.NullOr(Schema.String),
  hash: Schema.String,
  /**
   * Only on the turn-records topic, when the whole record would exceed what the topic accepts: how
   * many entries of each list were left off (the last ones). The stored record is whole, and
   * `hash` is the whole record's: verify it against the store (`turnvault verify`).
   */
  truncated: Schema.optional(
    Schema.Struct({
      customer_data_updates: Schema.Number,
      matched_rule_ids: Schema.Number,
      policy_violations: Schema.Number,
      matched_rules: Schema.optional(Schema.Number),
      tool_executions: Schema.optional(Schema.Number),
      missing_fields: Schema.optional(Schema.Number)
    }).annotations({
      description:
        "Published record only: entries left off each list to fit the topic; the stored record is whole and hash is its hash"
    })
  )
}).annotations({ identifier: "TurnRecord", title: "turnvault turn record" })
export type TurnRecord = typeof TurnRecord.Type

export const MemoryIngestionTask = Schema.Struct({
  turn_id: Schema.String,
  tenant_id: Schema.String,
  agent_id: Schema.String,
  session_id: Schema.String,
  customer_id: Schema.String,
  turn_number: Schema.Number,
  occurred_at: Schema.String,
  user_message: Schema.String.annotations({
    description: "the turn's text; empty when sealed_texts holds it"
  }),
  agent_response: Schema.String.annotations({
    description: "the turn's text; empty when sealed_texts holds it"
  }),
  sealed_texts: Schema.optional(
    Schema.Struct({
      $sealed: Schema.Literal("v1"),
      k: Schema.Number,
      d: Schema.String
    }).annotations({
      description:
        "with TURNVAULT_KEK: user_message and agent_response, sealed under the customer's data key (AES-256-GCM); only turnvault with the key-encryption key opens them, and nobody once the customer is erased"
    })
  ),
  missing_fields: missingFields,
  case_id: Schema.optional(
    Schema.String.annotations({
      description: "the turn's case: CASE-scoped values inferred from it belong to it"
    })
  )
}).annotations({ identifier: "MemoryIngestionTask", title: "turnvault memory-ingestion task" })
export type MemoryIngestionTask = typeof MemoryIngestionTask.Type

/** A memory-ingestion task the ingest worker gave up on, on `turnvault.memory-ingestion.dlq`. */
export const IngestionDeadLetter = Schema.Struct({
  reason: Schema.Literal("malformed_task", "provider_failed", "invalid_answer").annotations({
    description:
      "malformed_task: not a MemoryIngestionTask; provider_failed: the model kept failing or refused; invalid_answer: its answer stayed unusable"
  }),
  detail: Schema.String,
  attempts: Schema.Number,
  failed_at: Schema.String,
  task: Schema.Unknown.annotations({ description: "the task as it came (as text when it was not JSON)" })
}).annotations({ identifier: "IngestionDeadLetter", title: "turnvault memory-ingestion dead letter" })
export type IngestionDeadLetter = typeof IngestionDeadLetter.Type

export const TelemetryEntry = Schema.Struct({
  kind: Schema.Literal("turn", "dlq", "session"),
  tenant_id: Schema.String,
  session_id: Schema.String,
  turn_id: Schema.optional(Schema.String),
  event_id: Schema.optional(Schema.String),
  recorded_at: Schema.String,
  duration_ms: Schema.optional(Schema.Number),
  resolution: Schema.optional(Resolution),
  updates: Schema.optional(Schema.Record({ key: UpdateStatus, value: Schema.Number })),
  reason: Schema.optional(Schema.String)
}).annotations({ identifier: "TelemetryEntry", title: "turnvault telemetry entry" })
export type TelemetryEntry = typeof TelemetryEntry.Type

/** Reasons a message goes to the DLQ (DESIGN 9). */
export const DlqReason = Schema.Literal(
  "malformed_json",
  "schema_violation",
  "out_of_order",
  "too_large",
  "operator_dropped"
)
export type DlqReason = typeof DlqReason.Type
