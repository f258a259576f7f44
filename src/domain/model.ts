/**
 * The in-memory model that a session actor holds and the stores persist.
 * Plain data only: these types cross every port, so they stay free of Effect and of I/O.
 */
import type { FieldDefinition, Scope, VariableSource } from "../../schemas"

export type SessionStatus = "ACTIVE" | "ENDED" | "ABANDONED"

/** One value of a customer-data field with its provenance. */
export interface ValueVersion {
  readonly value: unknown
  readonly source: VariableSource
  readonly confidence: number
  /** The event's `occurred_at` (never the wall clock, so replay reproduces it). */
  readonly updated_at: string
  /** The turn that produced it. */
  readonly source_item_id: string
}

/** A field's current value and its bounded history (newest last). */
export interface DataEntry extends ValueVersion {
  readonly scope: Scope
  readonly history: ReadonlyArray<ValueVersion>
  /** Set in `warn` mode when the raw value was applied despite failing validation. */
  readonly validation_error?: string
  /** CASE scope: the case the value belongs to; it expires when that case closes. */
  readonly case_id?: string
  /**
   * The latest turn that sent this same value again, when newer than the one that set it: an
   * `unchanged` update makes no new version, but it is the latest update for last-writer-wins.
   */
  readonly confirmed_at?: string
  readonly confirmed_by?: string
}

/** The durable part of a session, hashed into `content_hash`. */
export interface SessionState {
  readonly tenant_id: string
  readonly session_id: string
  readonly customer_id: string
  readonly agent_id: string
  readonly status: SessionStatus
  readonly turn_count: number
  /** 0 before the first turn. */
  readonly last_turn_number: number
  /** Key of the last event applied (turn_id, or event_id of a session event); the replay marker. */
  readonly last_event_key: string | null
  readonly gaps: number
  /** Values kept only in the session: SESSION scope or `persist: false`. */
  readonly variables: Readonly<Record<string, DataEntry>>
  /** Hash of the session's latest turn record: the head of its chain. */
  readonly last_record_hash: string | null
  /** Sequence number of the session's latest history-ledger entry (0 when none). */
  readonly history_seq: number
  /** entry_hash of that entry: the head of the ledger's chain (absent on states written before). */
  readonly ledger_head?: string
  /** Increases on every change; fences a stale owner out of the store. */
  readonly version: number
  readonly updated_at: string
  /** Recent `session.ended` event ids, so a redelivered one is a no-op. */
  readonly ended_event_ids: ReadonlyArray<string>
  /** Where the conversation stands after the last turn (absent on states written before it was kept). */
  readonly lifecycle?: SessionLifecycle
}

/** The scenario, step and intent the last turn reported (DESIGN 3.5). */
export interface SessionLifecycle {
  readonly active_scenario_id: string | null
  readonly current_step_id: string | null
  readonly canonical_intent: string | null
}

/** What the session store keeps: the state and its content hash. */
export interface SessionRecord {
  readonly state: SessionState
  readonly content_hash: string
}

/**
 * `deleted`: a tombstone (ProfileStore.deleteItem); the row stays, with who, when and why.
 * `pending_review`: an inferred value below the review confidence, stored but never current.
 */
export type ProfileStatus = "active" | "superseded" | "expired" | "orphaned" | "deleted" | "pending_review"
/** `inference`: a value the ingest worker inferred from a turn (an `extraction.completed` event). */
export type SourceItemType = "turn" | "tool" | "import" | "field" | "asset" | "inference"

/** One stored profile row (customer context vault, DESIGN 3.6). */
export interface ProfileField extends ValueVersion {
  /** Deterministic: derived from (tenant, customer, name, source_item_id), so a replay writes the same id. */
  readonly id: string
  readonly tenant_id: string
  readonly customer_id: string
  readonly name: string
  readonly scope: Scope
  readonly status: ProfileStatus
  readonly source_item_type: SourceItemType
  readonly source_metadata: Readonly<Record<string, unknown>>
  readonly superseded_by_id: string | null
  readonly case_id: string | null
  readonly expires_at: string | null
  readonly validation_error: string | null
  /** The latest turn that confirmed the same value (see DataEntry.confirmed_at); null when none. */
  readonly confirmed_at: string | null
  readonly confirmed_by: string | null
  /** Version of the field definition that validated the value; null when none did (an import). */
  readonly definition_version: number | null
  /**
   * Present on the rows of `is_pii` fields: their value is sealed under the customer's data key
   * at rest (src/privacy/SealedProfileStore.ts, when TURNVAULT_KEK is set).
   */
  readonly pii?: true
}

/**
 * A stored asset of a customer (background 004 `ProfileAsset`): what the turn said of it, with
 * lineage and status like a profile row. `id` is the producer's `asset_id` (unique per tenant).
 */
export interface ProfileAsset {
  readonly tenant_id: string
  readonly id: string
  readonly customer_id: string
  readonly kind: string
  readonly uri: string | null
  readonly inline_ref: string | null
  readonly mime_type: string
  readonly size_bytes: number
  readonly sha256: string
  readonly derived_from_tool: string | null
  readonly status: ProfileStatus
  /** The turn that brought it; `source_item_type` is `tool` when a tool produced it. */
  readonly source_item_id: string
  readonly source_item_type: SourceItemType
  readonly source_metadata: Readonly<Record<string, unknown>>
  /** The turn's `occurred_at`. */
  readonly created_at: string
}

/**
 * A newer turn sent the active value `id` again: its recency, not a new row. Applied only while
 * `id` is still the field's active row, and only when newer than that row's recency.
 */
export interface FieldConfirmation {
  readonly kind: "confirmation"
  readonly tenant_id: string
  readonly customer_id: string
  readonly name: string
  readonly id: string
  readonly confirmed_at: string
  readonly confirmed_by: string
}

/** One change of a customer's fields, in event order: a new row, or a confirmation. */
export type FieldWrite = ProfileField | FieldConfirmation

export const isConfirmation = (write: FieldWrite): write is FieldConfirmation => "kind" in write

/** One change of a batch's customer data, in event order: field writes, or the closure of a case. */
export type ProfileOp =
  | { readonly kind: "write"; readonly rows: ReadonlyArray<FieldWrite> }
  | {
      readonly kind: "expire_case"
      readonly tenant_id: string
      readonly customer_id: string
      readonly case_id: string
    }

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * The last-writer-wins order (DESIGN 8): by instant `at`, then by `by` (a turn id). The stream
 * normalises instants to UTC with milliseconds, where text order is time order (the fast path);
 * other offsets are compared as instants, and unparsable ones as text.
 */
export const compareSent = (atA: string, byA: string, atB: string, byB: string): number => {
  let byTime: number
  if (atA.length === atB.length && atA.endsWith("Z") && atB.endsWith("Z")) byTime = compareText(atA, atB)
  else {
    const left = Date.parse(atA)
    const right = Date.parse(atB)
    byTime = Number.isNaN(left) || Number.isNaN(right) ? compareText(atA, atB) : Math.sign(left - right)
  }
  return byTime || compareText(byA, byB)
}

/** The new rows among `writes` (their confirmations left out). */
export const newRows = (writes: ReadonlyArray<FieldWrite>): Array<ProfileField> =>
  writes.filter((write): write is ProfileField => !isConfirmation(write))

/** A ledger entry of a session's history (DESIGN 3.5). Append-only. */
export interface SessionHistoryEntry {
  readonly tenant_id: string
  readonly session_id: string
  readonly seq: number
  /** turn_id or event_id of the event that caused it: unique per session. */
  readonly event_key: string
  readonly turn_id: string | null
  readonly prev_content_hash: string | null
  readonly new_content_hash: string
  readonly from_status: SessionStatus | null
  readonly to_status: SessionStatus
  readonly actor: string
  readonly reason: string
  readonly occurred_at: string
  /**
   * SHA-256 over this entry (all of the above but new_content_hash, which the next state's hash
   * covers in turn) and the previous entry's entry_hash: the ledger's own chain, so an edit of an
   * entry's reason, actor, status or turn shows. Null on entries written before it was kept.
   */
  readonly entry_hash: string | null
}

export type Definitions = ReadonlyMap<string, FieldDefinition>

export const definitionKey = (tenantId: string, agentId: string) => `${tenantId}\u0000${agentId}`
export const customerKey = (tenantId: string, customerId: string) => `${tenantId}\u0000${customerId}`

/**
 * A customer's message key on the logs (the by-customer topic, the embedded log's partitioning):
 * JSON, so no separator can collide with an id.
 */
export const customerMessageKey = (tenantId: string, customerId: string) =>
  JSON.stringify([tenantId, customerId])
export const sessionKey = (tenantId: string, sessionId: string) => `${tenantId}\u0000${sessionId}`
