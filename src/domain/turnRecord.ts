/** Builds the append-only turn record; its hash chains to the session's previous record. */
import type { CustomerDataUpdate, MissingField, TurnCompleted, TurnOutcome, TurnRecord } from "../../schemas"
import { hashCanonical } from "./hash"

export const buildTurnRecord = (
  event: TurnCompleted,
  occurredAt: string,
  outcome: TurnOutcome,
  updates: ReadonlyArray<CustomerDataUpdate>,
  missing: ReadonlyArray<MissingField>,
  prevHash: string | null
): TurnRecord => {
  const body: Omit<TurnRecord, "hash"> = {
    tenant_id: event.tenant_id,
    agent_id: event.agent_id,
    session_id: event.session_id,
    customer_id: event.customer_id,
    ...(event.case_id === undefined ? {} : { case_id: event.case_id }),
    turn_id: event.turn_id,
    turn_number: event.turn_number,
    occurred_at: occurredAt,
    canonical_intent: event.canonical_intent ?? null,
    outcome,
    customer_data_updates: updates,
    matched_rule_ids: event.matched_rules.map((rule) => rule.rule_id),
    tool_failures: event.tool_executions.filter((tool) => !tool.success).length,
    policy_violations: event.enforcement?.violations ?? [],
    matched_rules: event.matched_rules,
    scenario: event.scenario,
    tool_executions: event.tool_executions,
    enforcement:
      event.enforcement === null
        ? null
        : {
            blocked: event.enforcement.blocked,
            regeneration_attempts: event.enforcement.regeneration_attempts
          },
    missing_fields: missing,
    prev_hash: prevHash
  }
  return { ...body, hash: recordHash(body) }
}

/** The hash a record must carry: SHA-256 of the canonical JSON of everything but `hash`. */
export const recordHash = (record: Omit<TurnRecord, "hash">): string => {
  const { hash: _ignored, ...body } = record as TurnRecord
  return hashCanonical(body)
}
