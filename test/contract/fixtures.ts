/** Builders for the store contract: small, explicit rows with deterministic ids. */
import type { TurnRecord } from "../../schemas"
import { hashCanonical } from "../../src/domain/hash"
import type { ProfileField, SessionHistoryEntry, SessionRecord, SessionState } from "../../src/domain/model"

export const sessionState = (
  tenantId: string,
  sessionId: string,
  overrides: Partial<SessionState> = {}
): SessionState => ({
  tenant_id: tenantId,
  session_id: sessionId,
  customer_id: "cust-1",
  agent_id: "agent-1",
  status: "ACTIVE",
  turn_count: 1,
  last_turn_number: 1,
  last_event_key: "turn-1",
  gaps: 0,
  variables: {},
  last_record_hash: null,
  history_seq: 1,
  version: 1,
  updated_at: "2024-05-01T10:00:00.000Z",
  ended_event_ids: [],
  ...overrides
})

export const sessionRecord = (state: SessionState): SessionRecord => ({
  state,
  content_hash: hashCanonical(state)
})

export interface FieldSpec {
  readonly tenant: string
  readonly customer?: string
  readonly name: string
  readonly value: unknown
  readonly at: string
  readonly turn: string
  readonly scope?: ProfileField["scope"]
  readonly caseId?: string
  readonly expiresAt?: string
  readonly derivedFrom?: string | ReadonlyArray<string>
  readonly id?: string
  /** Null: a row no definition validated (an import). */
  readonly definitionVersion?: number | null
}

export const profileField = (spec: FieldSpec): ProfileField => {
  const customer = spec.customer ?? "cust-1"
  return {
    id: spec.id ?? `${customer}:${spec.name}:${spec.turn}`,
    tenant_id: spec.tenant,
    customer_id: customer,
    name: spec.name,
    value: spec.value,
    scope: spec.scope ?? "BUSINESS",
    status: "active",
    source: "USER",
    confidence: 0.9,
    updated_at: spec.at,
    source_item_id: spec.turn,
    source_item_type: spec.derivedFrom === undefined ? "turn" : "field",
    source_metadata:
      spec.derivedFrom === undefined ? { channel: "chat" } : { derived_from: spec.derivedFrom },
    superseded_by_id: null,
    case_id: spec.caseId ?? null,
    expires_at: spec.expiresAt ?? null,
    validation_error: null,
    confirmed_at: null,
    confirmed_by: null,
    definition_version: spec.definitionVersion === undefined ? 1 : spec.definitionVersion
  }
}

export const turnRecord = (
  tenantId: string,
  sessionId: string,
  turnNumber: number,
  overrides: Partial<TurnRecord> = {}
): TurnRecord => ({
  tenant_id: tenantId,
  agent_id: "agent-1",
  session_id: sessionId,
  customer_id: "cust-1",
  turn_id: `${sessionId}-turn-${turnNumber}`,
  turn_number: turnNumber,
  occurred_at: `2024-05-01T10:0${turnNumber % 10}:00.000+02:00`,
  canonical_intent: null,
  outcome: { resolution: "RESOLVED", categories: [{ category: "MATCHED_ZERO_RULES" }] },
  customer_data_updates: [{ field_name: "email", status: "persisted", scope: "IDENTITY", is_update: false }],
  matched_rule_ids: [],
  tool_failures: 0,
  policy_violations: [],
  prev_hash: null,
  hash: `hash-${turnNumber}`,
  ...overrides
})

export const historyEntry = (
  tenantId: string,
  sessionId: string,
  seq: number,
  overrides: Partial<SessionHistoryEntry> = {}
): SessionHistoryEntry => ({
  tenant_id: tenantId,
  session_id: sessionId,
  seq,
  event_key: `${sessionId}-turn-${seq}`,
  turn_id: `${sessionId}-turn-${seq}`,
  prev_content_hash: seq === 1 ? null : `h${seq - 1}`,
  new_content_hash: `h${seq}`,
  from_status: seq === 1 ? null : "ACTIVE",
  to_status: "ACTIVE",
  actor: "turnvault",
  reason: "turn",
  occurred_at: "2024-05-01T10:00:00.123456+02:00",
  entry_hash: `e${seq}`,
  ...overrides
})
