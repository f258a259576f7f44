/**
 * The last-writer-wins rule of the customer context vault (DESIGN 3.3, 3.6) and the closure of
 * cases, as one pure plan of a batch's profile changes. Both adapters use it: memory over its
 * maps, PostgreSQL over the rows it read once for the batch, so the two can never disagree on
 * which row is active.
 */
import {
  compareSent,
  customerKey,
  type FieldConfirmation,
  type FieldWrite,
  isConfirmation,
  type ProfileField,
  type ProfileOp
} from "./model"

export const fieldKey = (tenantId: string, customerId: string, name: string) =>
  `${tenantId}\u0000${customerId}\u0000${name}`

export const rowKey = (tenantId: string, id: string) => `${tenantId}\u0000${id}`

interface Recency {
  readonly at: string
  readonly by: string
}

const compare = (a: Recency, b: Recency): number => compareSent(a.at, a.by, b.at, b.by)

const setBy = (row: ProfileField): Recency => ({ at: row.updated_at, by: row.source_item_id })

/** When the row's value was last sent: its latest confirmation, or the turn that set it. */
const lastSent = (row: ProfileField): Recency =>
  row.confirmed_at === null || row.confirmed_by === null
    ? setBy(row)
    : { at: row.confirmed_at, by: row.confirmed_by }

/**
 * The row among `rows` whose value was sent last (set or confirmed): a field's latest expired CASE
 * value, which an older value arriving after its case closed must not outlive (DESIGN 8).
 */
export const latestSent = (rows: Iterable<ProfileField>): ProfileField | undefined => {
  let latest: ProfileField | undefined
  for (const row of rows)
    if (latest === undefined || compare(lastSent(row), lastSent(latest)) > 0) latest = row
  return latest
}

/** Orders rows by when they were set (`updated_at` as an instant, `source_item_id`): history order. */
export const compareRecency = (a: ProfileField, b: ProfileField): number => compare(setBy(a), setBy(b))

export interface RowRef {
  readonly tenant_id: string
  readonly id: string
}

export interface SupersededRow extends RowRef {
  readonly superseded_by_id: string
}

export interface ConfirmedRow extends RowRef {
  readonly confirmed_at: string
  readonly confirmed_by: string
}

export interface ProfilePlan {
  /** New rows in their final state (active, superseded, expired; confirmed when it applies). */
  readonly inserts: ReadonlyArray<ProfileField>
  /** Stored active rows a newer turn confirmed (their latest confirmation only). */
  readonly confirmed: ReadonlyArray<ConfirmedRow>
  /** Stored active rows a case closure expired. */
  readonly expired: ReadonlyArray<RowRef>
  /** Stored active rows a newer row supersedes. */
  readonly superseded: ReadonlyArray<SupersededRow>
}

/** What the plan needs to know of the stored rows the batch touches. */
export interface StoredLookup {
  readonly exists: (tenantId: string, id: string) => boolean
  readonly activeOf: (tenantId: string, customerId: string, name: string) => ProfileField | undefined
  /** The customer's stored active CASE rows of `caseId`. */
  readonly activeInCase: (tenantId: string, customerId: string, caseId: string) => ReadonlyArray<ProfileField>
  /** The field's stored expired CASE row sent last (`latestSent`), if any. */
  readonly expiredOf: (tenantId: string, customerId: string, name: string) => ProfileField | undefined
}

/** What a batch's writes must look up: the new rows' ids, the written fields, the closed cases. */
export const lookupKeys = (ops: ReadonlyArray<ProfileOp>) => {
  const rows: Array<ProfileField> = []
  const fields: Array<FieldWrite> = []
  const cases: Array<{ readonly tenant_id: string; readonly customer_id: string; readonly case_id: string }> =
    []
  for (const op of ops) {
    if (op.kind === "expire_case") cases.push(op)
    else
      for (const write of op.rows) {
        fields.push(write)
        if (!isConfirmation(write)) rows.push(write)
      }
  }
  return { rows, fields, cases }
}

/**
 * Plans a batch's profile ops in event order against what is stored, as if each were applied
 * alone: ids already stored (or repeated) are skipped; a new row is active when it was set after
 * the field's current value was last sent (set or confirmed), otherwise it is stored superseded by
 * the current one; a case closure expires the customer's current CASE values of that case. With no
 * current value, the field's latest expired CASE value stands in for it: a row set before that one
 * was sent is stored superseded by it, as it was when it arrived in time.
 */
export const planProfileOps = (ops: ReadonlyArray<ProfileOp>, stored: StoredLookup): ProfilePlan => {
  const inserts: Array<ProfileField> = []
  const superseded: Array<SupersededRow> = []
  const expired: Array<RowRef> = []
  const confirmed = new Map<string, ConfirmedRow>()
  const seen = new Set<string>()
  /** Per field touched: its latest state, and its index in `inserts` when it is new in this batch. */
  const latest = new Map<string, { readonly row: ProfileField; readonly index: number | null }>()
  /** Per customer: the fields of `latest`, for case closures. */
  const fieldsOf = new Map<string, Set<string>>()

  const track = (row: ProfileField, index: number | null) => {
    const key = fieldKey(row.tenant_id, row.customer_id, row.name)
    latest.set(key, { row, index })
    const customer = customerKey(row.tenant_id, row.customer_id)
    const fields = fieldsOf.get(customer) ?? new Set<string>()
    fieldsOf.set(customer, fields.add(key))
  }
  /** The field's active row now: the batch's latest state of it, else the stored active row. */
  const currentOf = (tenantId: string, customerId: string, name: string) => {
    const entry = latest.get(fieldKey(tenantId, customerId, name))
    if (entry !== undefined) return entry.row.status === "active" ? entry : undefined
    const storedActive = stored.activeOf(tenantId, customerId, name)
    return storedActive === undefined ? undefined : { row: storedActive, index: null }
  }
  /** What a new row must be newer than: the current row, else the latest expired CASE row. */
  const newestOf = (tenantId: string, customerId: string, name: string): ProfileField | undefined => {
    const current = currentOf(tenantId, customerId, name)
    if (current !== undefined) return current.row
    const entry = latest.get(fieldKey(tenantId, customerId, name))
    const storedExpired = stored.expiredOf(tenantId, customerId, name)
    return entry === undefined
      ? storedExpired
      : latestSent(storedExpired === undefined ? [entry.row] : [entry.row, storedExpired])
  }

  const confirm = (write: FieldConfirmation) => {
    const current = currentOf(write.tenant_id, write.customer_id, write.name)
    const sent = { at: write.confirmed_at, by: write.confirmed_by }
    if (current === undefined || current.row.id !== write.id || compare(sent, lastSent(current.row)) <= 0)
      return
    const row: ProfileField = { ...current.row, confirmed_at: sent.at, confirmed_by: sent.by }
    track(row, current.index)
    if (current.index === null) {
      const ref = { tenant_id: write.tenant_id, id: write.id, confirmed_at: sent.at, confirmed_by: sent.by }
      confirmed.set(rowKey(write.tenant_id, write.id), ref)
    } else inserts[current.index] = row
  }

  const insert = (row: ProfileField) => {
    const key = rowKey(row.tenant_id, row.id)
    if (seen.has(key) || stored.exists(row.tenant_id, row.id)) return
    seen.add(key)
    if (row.status !== "active") {
      inserts.push(row)
      return
    }
    const newest = newestOf(row.tenant_id, row.customer_id, row.name)
    if (newest !== undefined && compare(setBy(row), lastSent(newest)) <= 0) {
      inserts.push({ ...row, status: "superseded", superseded_by_id: newest.id })
      return
    }
    const current = currentOf(row.tenant_id, row.customer_id, row.name)
    if (current !== undefined) {
      if (current.index === null)
        superseded.push({ tenant_id: row.tenant_id, id: current.row.id, superseded_by_id: row.id })
      else inserts[current.index] = { ...current.row, status: "superseded", superseded_by_id: row.id }
    }
    const activeRow: ProfileField = row.superseded_by_id === null ? row : { ...row, superseded_by_id: null }
    track(activeRow, inserts.length)
    inserts.push(activeRow)
  }

  const closeCase = (tenantId: string, customerId: string, caseId: string) => {
    const names = new Set<string>()
    for (const row of stored.activeInCase(tenantId, customerId, caseId)) names.add(row.name)
    for (const key of fieldsOf.get(customerKey(tenantId, customerId)) ?? []) {
      const entry = latest.get(key)
      if (entry !== undefined) names.add(entry.row.name)
    }
    for (const name of [...names].sort()) {
      const current = currentOf(tenantId, customerId, name)
      if (current === undefined || current.row.scope !== "CASE" || current.row.case_id !== caseId) continue
      const row: ProfileField = { ...current.row, status: "expired" }
      track(row, current.index)
      if (current.index === null) expired.push({ tenant_id: tenantId, id: row.id })
      else inserts[current.index] = row
    }
  }

  for (const op of ops) {
    if (op.kind === "expire_case") closeCase(op.tenant_id, op.customer_id, op.case_id)
    else
      for (const write of op.rows) {
        if (isConfirmation(write)) confirm(write)
        else insert(write)
      }
  }
  return { inserts, confirmed: [...confirmed.values()], expired, superseded }
}

/** The ids an item derives from: `source_metadata.derived_from` as one id or a list of ids. */
export const derivedFrom = (row: ProfileField): ReadonlyArray<string> => {
  const value = row.source_metadata.derived_from
  if (typeof value === "string") return [value]
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === "string")
  return []
}

/**
 * A `derived_from` id that names a turn record (`turn:<turn_id>`). Turn records are append-only
 * and never deleted, so such a source never makes an orphan.
 */
export const TURN_SOURCE_PREFIX = "turn:"

export const isTurnSource = (id: string): boolean => id.startsWith(TURN_SOURCE_PREFIX)

/** Derivation walks stop this many hops from the item (a bound on pathological chains). */
export const MAX_DERIVATION_HOPS = 32

/**
 * The derivation depth of each active item that names sources: 1 for an item derived only from
 * assets, turns or fields that derive from nothing; otherwise one more than its deepest field
 * source (the longest path, cycles cut, at most MAX_DERIVATION_HOPS). `field` finds a stored row
 * of the item's tenant by id, whatever its status. Answers the number of items per depth.
 */
export const derivationDepths = (
  active: Iterable<ProfileField>,
  field: (tenantId: string, id: string) => ProfileField | undefined
): ReadonlyMap<number, number> => {
  const counts = new Map<number, number>()
  for (const root of active) {
    if (derivedFrom(root).length === 0) continue
    let deepest = 0
    const walk = (row: ProfileField, hops: number, path: Set<string>) => {
      const sources = derivedFrom(row)
      if (sources.length > 0) deepest = Math.max(deepest, hops + 1)
      if (hops >= MAX_DERIVATION_HOPS) return
      for (const id of sources) {
        const source = path.has(id) ? undefined : field(row.tenant_id, id)
        if (source === undefined) continue
        path.add(id)
        walk(source, hops + 1, path)
        path.delete(id)
      }
    }
    walk(root, 0, new Set([root.id]))
    counts.set(deepest, (counts.get(deepest) ?? 0) + 1)
  }
  return counts
}
