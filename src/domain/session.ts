/**
 * Session lifecycle (DESIGN 3.5): creation, turns, end and reopen, each producing the next state,
 * its content hash and one entry of the append-only history ledger. Pure.
 */
import type { SessionEnded } from "../../schemas"
import { hashCanonical } from "./hash"
import type {
  DataEntry,
  SessionHistoryEntry,
  SessionLifecycle,
  SessionRecord,
  SessionState,
  SessionStatus
} from "./model"

export const ACTOR = "turnvault"

/** SHA-256 of the canonical JSON of the whole state. */
export const contentHash = (state: SessionState): string => hashCanonical(state)

export interface SessionIdentity {
  readonly tenant_id: string
  readonly session_id: string
  readonly customer_id: string
  readonly agent_id: string
}

export interface Transition {
  readonly record: SessionRecord
  readonly history: SessionHistoryEntry
}

/** An entry's fields that entry_hash covers: all but new_content_hash and entry_hash. */
export type LedgerEntryBody = Omit<SessionHistoryEntry, "new_content_hash" | "entry_hash">

/** entry_hash of an entry: its body and the previous entry's entry_hash (null for the first). */
export const ledgerEntryHash = (entry: LedgerEntryBody, previous: string | null): string =>
  hashCanonical({
    tenant_id: entry.tenant_id,
    session_id: entry.session_id,
    seq: entry.seq,
    event_key: entry.event_key,
    turn_id: entry.turn_id,
    prev_content_hash: entry.prev_content_hash,
    from_status: entry.from_status,
    to_status: entry.to_status,
    actor: entry.actor,
    reason: entry.reason,
    occurred_at: entry.occurred_at,
    prev_entry_hash: previous
  })

/**
 * The next state, its content hash and its ledger entry. The entry is hashed first (without the
 * new state's content hash) and the state names it as `ledger_head`, so the state's content hash
 * covers the whole ledger up to it.
 */
const transition = (
  previous: SessionRecord | null,
  unhashed: Omit<SessionState, "ledger_head">,
  eventKey: string,
  turnId: string | null,
  reason: string
): Transition => {
  const body: LedgerEntryBody = {
    tenant_id: unhashed.tenant_id,
    session_id: unhashed.session_id,
    seq: unhashed.history_seq,
    event_key: eventKey,
    turn_id: turnId,
    prev_content_hash: previous?.content_hash ?? null,
    from_status: previous?.state.status ?? null,
    to_status: unhashed.status,
    actor: ACTOR,
    reason,
    occurred_at: unhashed.updated_at
  }
  const entry_hash = ledgerEntryHash(body, previous?.state.ledger_head ?? null)
  const state: SessionState = { ...unhashed, ledger_head: entry_hash }
  const content_hash = contentHash(state)
  return {
    record: { state, content_hash },
    history: { ...body, new_content_hash: content_hash, entry_hash }
  }
}

export interface AppliedTurn {
  readonly turn_id: string
  readonly turn_number: number
  readonly occurred_at: string
  readonly record_hash: string
  readonly variables: Readonly<Record<string, DataEntry>>
  readonly lifecycle: SessionLifecycle
}

/** Applies a turn: creates the session on its first turn, reopens an ended one. */
export const applyTurn = (
  previous: SessionRecord | null,
  identity: SessionIdentity,
  turn: AppliedTurn
): Transition => {
  const before = previous?.state
  const lastNumber = before?.last_turn_number ?? 0
  const state: SessionState = {
    tenant_id: identity.tenant_id,
    session_id: identity.session_id,
    customer_id: identity.customer_id,
    agent_id: identity.agent_id,
    status: "ACTIVE",
    turn_count: (before?.turn_count ?? 0) + 1,
    last_turn_number: turn.turn_number,
    last_event_key: turn.turn_id,
    gaps: (before?.gaps ?? 0) + (turn.turn_number > lastNumber + 1 ? 1 : 0),
    variables: turn.variables,
    last_record_hash: turn.record_hash,
    history_seq: (before?.history_seq ?? 0) + 1,
    version: (before?.version ?? 0) + 1,
    updated_at: turn.occurred_at,
    ended_event_ids: before?.ended_event_ids ?? [],
    lifecycle: turn.lifecycle
  }
  const reason = before === undefined ? "created" : before.status === "ACTIVE" ? "turn" : "reopened"
  return transition(previous, state, turn.turn_id, turn.turn_id, reason)
}

/**
 * A closed case takes its session-only CASE values (`persist: false`) out of the session's
 * variables; null when the session holds none, so a redelivered `case.closed` changes nothing.
 */
export const closeCase = (previous: SessionRecord, eventId: string, caseId: string, occurredAt: string) => {
  const before = previous.state
  const kept = Object.entries(before.variables).filter(
    ([, entry]) => !(entry.scope === "CASE" && entry.case_id === caseId)
  )
  if (kept.length === Object.keys(before.variables).length) return null
  const state: SessionState = {
    ...before,
    last_event_key: eventId,
    // null prototype, as the turn's variables: a field may be named like an Object.prototype member
    variables: Object.assign(Object.create(null) as Record<string, DataEntry>, Object.fromEntries(kept)),
    history_seq: before.history_seq + 1,
    version: before.version + 1,
    updated_at: occurredAt
  }
  return transition(previous, state, eventId, null, "case_closed")
}

/** How many `session.ended` event ids a session remembers to make their replay a no-op. */
const ENDED_EVENT_MEMORY = 16

/** Ends the session with the event's reason; clears session-only variables when `cleanup` is on. */
export const endSession = (
  previous: SessionRecord,
  event: SessionEnded,
  occurredAt: string,
  cleanup: boolean
): Transition => {
  const before = previous.state
  const status: SessionStatus = event.reason
  const state: SessionState = {
    ...before,
    status,
    last_event_key: event.event_id,
    variables: cleanup ? {} : before.variables,
    history_seq: before.history_seq + 1,
    version: before.version + 1,
    updated_at: occurredAt,
    ended_event_ids: [...before.ended_event_ids, event.event_id].slice(-ENDED_EVENT_MEMORY)
  }
  return transition(previous, state, event.event_id, null, event.reason)
}
