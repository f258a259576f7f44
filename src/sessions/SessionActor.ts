/**
 * One logical actor per session: the in-flight snapshot (session state, the customer's profile,
 * the agent's field definitions) and the synchronous handling of one event against it.
 * The registry (ActorRegistry) activates, orders and passivates actors; this file is pure logic
 * over the snapshot, so one turn costs microseconds, not a round trip.
 */
import type {
  CaseClosed,
  ExtractionCompleted,
  MemoryIngestionTask,
  MissingField,
  SessionEnded,
  TurnCompleted,
  TurnRecord,
  ValidationMode
} from "../../schemas"
import { type CustomerDataResult, updateCustomerData } from "../domain/customerData"
import {
  type DataEntry,
  type Definitions,
  type FieldWrite,
  type ProfileAsset,
  isConfirmation,
  type SessionHistoryEntry,
  type SessionRecord
} from "../domain/model"
import { applyInference } from "../domain/inference"
import { computeOutcome } from "../domain/outcome"
import { assetRows } from "../domain/assets"
import { missingFields, noRequirements, type Requirements } from "../domain/requirements"
import { applyTurn, closeCase, endSession } from "../domain/session"
import { buildTurnRecord } from "../domain/turnRecord"

export interface ActorSettings {
  readonly defaultMode: ValidationMode
  readonly maxHistory: number
  /** Customer-data persistence switch (CustomerDataOptions). */
  readonly persistProfile: boolean
  readonly sessionCleanupOnEnd: boolean
  /** Inferred values flagged for review become current all the same (TURNVAULT_EXTRACTION_REVIEW). */
  readonly activateUnreviewed: boolean
}

/** A customer's active profile values, shared by all of the customer's active session actors. */
export class CustomerSnapshot {
  readonly profile = new Map<string, DataEntry>()
  /** Per field without a current value: its latest expired CASE value (last-writer-wins, DESIGN 8). */
  readonly expired = new Map<string, DataEntry>()
  /**
   * Per field of `profile` whose current row has an `expires_at`: that instant (epoch ms). The
   * expiry job removes such values from resident snapshots as it expires their rows (DESIGN 3.6).
   */
  readonly expiresAt = new Map<string, number>()
  refs = 0

  /** Makes `entry` the field's current value; `expiresAt` (epoch ms) null when it never expires. */
  setCurrent(name: string, entry: DataEntry, expiresAt: number | null) {
    this.profile.set(name, entry)
    if (expiresAt === null) this.expiresAt.delete(name)
    else this.expiresAt.set(name, expiresAt)
  }

  /** The field has no current value any more; a CASE value stays its latest expired one. */
  private drop(name: string) {
    const entry = this.profile.get(name)
    this.profile.delete(name)
    this.expiresAt.delete(name)
    if (entry?.scope === "CASE") this.expired.set(name, entry)
  }

  /** Drops every current value whose `expires_at` is before `now`, as the store's expiry does. */
  expireBefore(now: number): number {
    let dropped = 0
    for (const [name, at] of this.expiresAt) {
      if (at >= now) continue
      this.drop(name)
      dropped += 1
    }
    return dropped
  }

  /** Drops the field's current value if it is still the row of `sourceItemId` (a newer one stays). */
  forget(name: string, sourceItemId: string): boolean {
    if (this.profile.get(name)?.source_item_id !== sourceItemId) return false
    this.drop(name)
    return true
  }
}

const noExpiries: ReadonlyMap<string, number> = new Map()

/** The `expires_at` of a turn's new rows that have one, by field name and source item. */
const expiriesOf = (writes: ReadonlyArray<FieldWrite>): ReadonlyMap<string, number> => {
  let expiries: Map<string, number> | undefined
  for (const write of writes) {
    if (isConfirmation(write) || write.expires_at === null) continue
    expiries ??= new Map()
    expiries.set(`${write.name}\u0000${write.source_item_id}`, Date.parse(write.expires_at))
  }
  return expiries ?? noExpiries
}

/** What one applied event asks the stores and sinks to do. */
export interface EventEffects {
  readonly session: SessionRecord | null
  readonly history: SessionHistoryEntry | null
  readonly record: TurnRecord | null
  readonly profileWrites: ReadonlyArray<FieldWrite>
  readonly expireCase: {
    readonly tenant_id: string
    readonly customer_id: string
    readonly case_id: string
  } | null
  readonly memoryTask: MemoryIngestionTask | null
  readonly customerData: CustomerDataResult | null
  /** The turn's assets, stored with the customer's profile. */
  readonly assets: ReadonlyArray<ProfileAsset>
}

export type TurnDecision =
  | { readonly kind: "applied"; readonly effects: EventEffects }
  | { readonly kind: "duplicate" }
  | { readonly kind: "out_of_order"; readonly detail: string }
  /** turn_number not above the last one and turn_id not known here: ask the audit store. */
  | { readonly kind: "check_audit" }

export type SessionEventDecision =
  | { readonly kind: "applied"; readonly effects: EventEffects }
  | { readonly kind: "ignored"; readonly reason: "unknown_session" | "duplicate" }

const RECENT_TURN_IDS = 64

/** UTC ISO with milliseconds: the form every stored timestamp and LWW comparison uses. */
export const normaliseInstant = (iso: string): string => new Date(iso).toISOString()

/**
 * The memory-ingestion task of a turn; rebuilt identically, from the event and its stored record's
 * missing fields, when a redelivered turn is re-published.
 */
export const memoryTaskFor = (
  event: TurnCompleted,
  missing: ReadonlyArray<MissingField> | undefined
): MemoryIngestionTask => ({
  turn_id: event.turn_id,
  tenant_id: event.tenant_id,
  agent_id: event.agent_id,
  session_id: event.session_id,
  customer_id: event.customer_id,
  turn_number: event.turn_number,
  occurred_at: normaliseInstant(event.occurred_at),
  user_message: event.user_message,
  agent_response: event.agent_response,
  ...(missing === undefined ? {} : { missing_fields: missing }),
  ...(event.case_id === undefined || event.case_id === "" ? {} : { case_id: event.case_id })
})

const noEffects = {
  session: null,
  history: null,
  record: null,
  profileWrites: [],
  expireCase: null,
  memoryTask: null,
  customerData: null,
  assets: []
} satisfies EventEffects

export class SessionActor {
  lastUsed = 0
  /** The log partition this session's events arrive on (for dropping actors on revocation). */
  partition = -1
  private readonly recentTurnIds: Array<string> = []
  /** The agent's scenario requirements (set with the definitions by the registry). */
  requirements: Requirements = noRequirements

  constructor(
    readonly tenantId: string,
    readonly sessionId: string,
    public record: SessionRecord | null,
    readonly customer: CustomerSnapshot,
    public definitions: Definitions
  ) {}

  /** Classifies and, when new and in order, applies a turn. `knownApplied` answers `check_audit`. */
  handleTurn(event: TurnCompleted, settings: ActorSettings, knownApplied?: boolean): TurnDecision {
    const state = this.record?.state
    if (
      state !== undefined &&
      (state.last_event_key === event.turn_id || this.recentTurnIds.includes(event.turn_id))
    ) {
      return { kind: "duplicate" }
    }
    if (state !== undefined && event.turn_number <= state.last_turn_number) {
      if (knownApplied === undefined) return { kind: "check_audit" }
      if (knownApplied) return { kind: "duplicate" }
      return {
        kind: "out_of_order",
        detail: `turn_number ${event.turn_number} is not above the last applied ${state.last_turn_number}`
      }
    }
    const occurredAt = normaliseInstant(event.occurred_at)
    const customerData = updateCustomerData(
      { ...event, occurred_at: occurredAt },
      event.candidate_variables,
      this.definitions,
      this.customer.profile,
      state?.variables ?? {},
      this.customer.expired,
      settings
    )
    const outcome = computeOutcome(event)
    const variables = customerData.sessionVariables
    const profile = this.customer.profile
    const changes = customerData.profileChanges
    const missing = missingFields(
      this.requirements,
      event.scenario?.active_scenario_id,
      event.scenario?.current_step_id,
      (name) => Object.hasOwn(variables, name) || changes.has(name) || profile.has(name)
    )
    const record = buildTurnRecord(
      event,
      occurredAt,
      outcome,
      customerData.updates,
      missing,
      state?.last_record_hash ?? null
    )
    const { record: session, history } = applyTurn(this.record, event, {
      turn_id: event.turn_id,
      turn_number: event.turn_number,
      occurred_at: occurredAt,
      record_hash: record.hash,
      variables: customerData.sessionVariables,
      lifecycle: {
        active_scenario_id: event.scenario?.active_scenario_id ?? null,
        current_step_id: event.scenario?.current_step_id ?? null,
        canonical_intent: event.canonical_intent ?? null
      }
    })
    this.adopt(customerData)
    this.record = session
    this.rememberTurn(event.turn_id)
    return {
      kind: "applied",
      effects: {
        ...noEffects,
        session,
        history,
        record,
        profileWrites: customerData.profileWrites,
        customerData,
        memoryTask: memoryTaskFor(event, missing),
        assets:
          event.assets === undefined || event.assets.length === 0
            ? []
            : assetRows({ ...event, occurred_at: occurredAt }, event.assets)
      }
    }
  }

  /**
   * Applies the values the ingest worker inferred from one of the session's turns to the customer's
   * profile (domain/inference.ts). No session state changes and no turn record is written: the
   * rows carry their own lineage. A redelivered extraction writes rows with the same ids, which the
   * stores skip, and finds its values current already.
   */
  handleExtraction(event: ExtractionCompleted, settings: ActorSettings): EventEffects {
    const customerData = applyInference(
      event,
      normaliseInstant(event.occurred_at),
      this.definitions,
      this.customer.profile,
      this.customer.expired,
      settings
    )
    this.adopt(customerData)
    return { ...noEffects, profileWrites: customerData.profileWrites, customerData }
  }

  /** The values that became current join the customer's snapshot, with their expiry. */
  private adopt(customerData: CustomerDataResult) {
    if (customerData.profileChanges.size === 0) return
    const expiries = expiriesOf(customerData.profileWrites)
    for (const [name, entry] of customerData.profileChanges)
      this.customer.setCurrent(name, entry, expiries.get(`${name}\u0000${entry.source_item_id}`) ?? null)
  }

  handleEnded(event: SessionEnded, settings: ActorSettings): SessionEventDecision {
    if (this.record === null) return { kind: "ignored", reason: "unknown_session" }
    if (this.record.state.ended_event_ids.includes(event.event_id))
      return { kind: "ignored", reason: "duplicate" }
    const { record: session, history } = endSession(
      this.record,
      event,
      normaliseInstant(event.occurred_at),
      settings.sessionCleanupOnEnd
    )
    this.record = session
    return { kind: "applied", effects: { ...noEffects, session, history } }
  }

  /**
   * The customer's active CASE values of the closed case leave the snapshot (the store expires
   * them); each stays the field's latest expired value, which an older value must not outlive.
   * The case's session-only values (`persist: false`) leave this session's variables.
   */
  handleCaseClosed(event: CaseClosed): EventEffects {
    for (const [name, entry] of this.customer.profile) {
      if (entry.scope === "CASE" && entry.case_id === event.case_id) {
        this.customer.profile.delete(name)
        this.customer.expiresAt.delete(name)
        this.customer.expired.set(name, entry)
      }
    }
    const closed =
      this.record === null
        ? null
        : closeCase(this.record, event.event_id, event.case_id, normaliseInstant(event.occurred_at))
    if (closed !== null) this.record = closed.record
    return {
      ...noEffects,
      session: closed?.record ?? null,
      history: closed?.history ?? null,
      expireCase: { tenant_id: event.tenant_id, customer_id: event.customer_id, case_id: event.case_id }
    }
  }

  private rememberTurn(turnId: string) {
    this.recentTurnIds.push(turnId)
    if (this.recentTurnIds.length > RECENT_TURN_IDS) this.recentTurnIds.shift()
  }
}
