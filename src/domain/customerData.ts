/**
 * The customer-data update of one turn (DESIGN 3.3): match -> validate/coerce -> apply with
 * history -> mark for persistence. Pure and synchronous: it reads the snapshot and returns what
 * changed; the caller merges it into the actor's snapshot and hands the rows to the stores.
 */
import type {
  CandidateVariable,
  CustomerDataUpdate,
  FieldDefinition,
  ValidationMode,
  VariableSource
} from "../../schemas"
import { type ValidationErrorType, checkValue } from "./coercion"
import { sha256Hex } from "./hash"
import { compareSent, type DataEntry, type Definitions, type FieldWrite, type ValueVersion } from "./model"
import { deepEqual } from "./deepEqual"

const PII = { pii: true } as const

export interface CustomerDataOptions {
  readonly defaultMode: ValidationMode
  readonly maxHistory: number
  /**
   * Off (TURNVAULT_CUSTOMER_DATA_PERSISTENCE=false): the deployment keeps no customer profile;
   * every valid value is kept in the session only, as if its definition said `persist: false`.
   */
  readonly persistProfile: boolean
}

export interface TurnContext {
  readonly tenant_id: string
  readonly customer_id: string
  readonly session_id: string
  readonly agent_id: string
  readonly turn_id: string
  /** UTC ISO string with milliseconds: the ordering key of last-writer-wins. */
  readonly occurred_at: string
  readonly case_id?: string | undefined
}

export interface CustomerDataResult {
  /** One per candidate variable, in the order the event listed them. */
  readonly updates: ReadonlyArray<CustomerDataUpdate>
  /**
   * What to persist in the profile store (scope != SESSION, persist = true): a row per changed
   * value, a confirmation per value a newer turn sent again.
   */
  readonly profileWrites: ReadonlyArray<FieldWrite>
  /** New current entries of the customer's profile snapshot (only fields that became current). */
  readonly profileChanges: ReadonlyMap<string, DataEntry>
  /** The session's variables after the turn (a new object only when something changed). */
  readonly sessionVariables: Readonly<Record<string, DataEntry>>
  readonly validationErrors: ReadonlyArray<{
    readonly field: string
    readonly type: ValidationErrorType
    readonly value_type: FieldDefinition["value_type"]
  }>
}

export const keepsInSession = (def: FieldDefinition, options: CustomerDataOptions) =>
  def.scope === "SESSION" || !def.persist || !options.persistProfile

/** Deterministic row id: a replayed turn writes the same id, which makes the write idempotent. */
export const profileFieldId = (tenantId: string, customerId: string, name: string, sourceItemId: string) =>
  sha256Hex(`${tenantId}\u0000${customerId}\u0000${name}\u0000${sourceItemId}`).slice(0, 32)

/**
 * Last-writer-wins order of DESIGN 8: (occurred_at, turn_id) of `a` against the latest update of
 * `b`, which is its latest confirmation when a newer turn sent the same value again.
 */
export const isNewer = (a: ValueVersion, b: DataEntry): boolean =>
  compareSent(
    a.updated_at,
    a.source_item_id,
    b.confirmed_at ?? b.updated_at,
    b.confirmed_by ?? b.source_item_id
  ) > 0

/** `entry` as last sent by `turn` (which sent the same value again, and is newer). */
const confirmedBy = (entry: DataEntry, turn: TurnContext): DataEntry => ({
  ...entry,
  confirmed_at: turn.occurred_at,
  confirmed_by: turn.turn_id
})

/** The previous current value moves into history, newest last, at most `max` entries. */
const withHistory = (previous: DataEntry | undefined, max: number): ReadonlyArray<ValueVersion> => {
  if (previous === undefined || max <= 0) return []
  const { value, source, confidence, updated_at, source_item_id } = previous
  const history = [...previous.history, { value, source, confidence, updated_at, source_item_id }]
  return history.length > max ? history.slice(history.length - max) : history
}

const expiresAt = (def: FieldDefinition, occurredAt: string): string | null =>
  def.expires_after_seconds === undefined
    ? null
    : new Date(Date.parse(occurredAt) + def.expires_after_seconds * 1000).toISOString()

/** The report of a candidate that passed validation (no closure per candidate: this is the hot path). */
const applied = (
  name: string,
  def: FieldDefinition,
  isUpdate: boolean,
  status: CustomerDataUpdate["status"],
  warning: string | undefined
): CustomerDataUpdate =>
  warning === undefined
    ? { field_name: name, scope: def.scope, is_update: isUpdate, status }
    : { field_name: name, scope: def.scope, is_update: isUpdate, status, validation_error: warning }

export const updateCustomerData = (
  turn: TurnContext,
  candidates: Readonly<Record<string, CandidateVariable>>,
  definitions: Definitions,
  profile: ReadonlyMap<string, DataEntry>,
  sessionVariables: Readonly<Record<string, DataEntry>>,
  /** Per field without a current value: its latest expired CASE value (none: an empty map). */
  expired: ReadonlyMap<string, DataEntry>,
  options: CustomerDataOptions
): CustomerDataResult => {
  const updates: Array<CustomerDataUpdate> = []
  const profileWrites: Array<FieldWrite> = []
  const profileChanges = new Map<string, DataEntry>()
  const validationErrors: Array<CustomerDataResult["validationErrors"][number]> = []
  let variables: Record<string, DataEntry> | undefined

  for (const name of Object.keys(candidates)) {
    const candidate = candidates[name]!
    const def = definitions.get(name)
    if (def === undefined) {
      updates.push({ field_name: name, status: "unknown_field" })
      continue
    }
    const checked = checkValue(def, candidate.value, def.validation_mode ?? options.defaultMode)
    if (checked.kind === "rejected") {
      validationErrors.push({ field: name, type: checked.errorType, value_type: def.value_type })
      updates.push({
        field_name: name,
        status: "rejected",
        scope: def.scope,
        validation_error: checked.error
      })
      continue
    }
    const warning = checked.kind === "warned" ? checked.error : undefined
    if (checked.kind === "warned")
      validationErrors.push({ field: name, type: checked.errorType, value_type: def.value_type })

    const sessionOnly = keepsInSession(def, options)
    const vars = variables ?? sessionVariables
    const current = sessionOnly
      ? Object.hasOwn(vars, name)
        ? vars[name]
        : undefined
      : (profileChanges.get(name) ?? profile.get(name))
    // A CASE value belongs to its case: the same value in another case is a new value.
    const sameCase = def.scope !== "CASE" || current?.case_id === turn.case_id
    const isUpdate = current !== undefined

    const version: ValueVersion = {
      value: checked.value,
      source: (candidate.source ?? "USER") satisfies VariableSource,
      confidence: candidate.confidence ?? 1,
      updated_at: turn.occurred_at,
      source_item_id: turn.turn_id
    }
    if (current !== undefined && sameCase && deepEqual(current.value, checked.value)) {
      // No new version; a newer turn sending it again is still its latest update (DESIGN 8).
      if (isNewer(version, current)) {
        const entry = confirmedBy(current, turn)
        if (sessionOnly) {
          variables ??= Object.assign(Object.create(null) as Record<string, DataEntry>, sessionVariables)
          variables[name] = entry
        } else {
          profileChanges.set(name, entry)
          profileWrites.push({
            kind: "confirmation",
            tenant_id: turn.tenant_id,
            customer_id: turn.customer_id,
            name,
            id: profileFieldId(turn.tenant_id, turn.customer_id, name, current.source_item_id),
            confirmed_at: turn.occurred_at,
            confirmed_by: turn.turn_id
          })
        }
      }
      updates.push(applied(name, def, isUpdate, "unchanged", warning))
      continue
    }
    // A late update (older than the current value, or than the latest expired CASE value when
    // there is none) is stored but does not become current (DESIGN 8).
    const newest = sessionOnly ? current : (current ?? expired.get(name))
    const becomesCurrent = newest === undefined || isNewer(version, newest)
    // Fields spelled out, no `...version`: V8 builds a spread followed by many properties ~25x
    // slower (bench/scenarios/cpu.ts, customerDataUpdate), and this runs for every value.
    const entry: { -readonly [K in keyof DataEntry]: DataEntry[K] } = {
      value: version.value,
      source: version.source,
      confidence: version.confidence,
      updated_at: version.updated_at,
      source_item_id: version.source_item_id,
      scope: def.scope,
      history: withHistory(current, options.maxHistory)
    }
    if (warning !== undefined) entry.validation_error = warning
    if (def.scope === "CASE" && turn.case_id !== undefined) entry.case_id = turn.case_id

    if (sessionOnly) {
      if (becomesCurrent) {
        // Null prototype: a field may be named like an Object.prototype member (`constructor`).
        variables ??= Object.assign(Object.create(null) as Record<string, DataEntry>, sessionVariables)
        variables[name] = entry
      }
      updates.push(applied(name, def, isUpdate, "session_only", warning))
      continue
    }
    if (becomesCurrent) profileChanges.set(name, entry)
    profileWrites.push({
      value: version.value,
      source: version.source,
      confidence: version.confidence,
      updated_at: version.updated_at,
      source_item_id: version.source_item_id,
      id: profileFieldId(turn.tenant_id, turn.customer_id, name, turn.turn_id),
      tenant_id: turn.tenant_id,
      customer_id: turn.customer_id,
      name,
      scope: def.scope,
      status: "active",
      source_item_type: "turn",
      source_metadata:
        candidate.derived_from === undefined || candidate.derived_from.length === 0
          ? { session_id: turn.session_id, agent_id: turn.agent_id }
          : { session_id: turn.session_id, agent_id: turn.agent_id, derived_from: candidate.derived_from },
      superseded_by_id: null,
      case_id: def.scope === "CASE" ? (turn.case_id ?? null) : null,
      expires_at: expiresAt(def, turn.occurred_at),
      validation_error: warning ?? null,
      confirmed_at: null,
      confirmed_by: null,
      definition_version: def.version,
      ...(def.is_pii === true ? PII : undefined)
    })
    updates.push(applied(name, def, isUpdate, "persisted", warning))
  }
  return {
    updates,
    profileWrites,
    profileChanges,
    sessionVariables: variables ?? sessionVariables,
    validationErrors
  }
}
