/**
 * The last-writer-wins rule of the customer context vault (DESIGN 3.3, 3.6), as one pure function.
 * Both adapters use it: memory over its maps, PostgreSQL over the rows it locked, so the two can
 * never disagree on which row is active.
 */
import { type FieldWrite, isConfirmation, type ProfileField } from "./model"

export const fieldKey = (tenantId: string, customerId: string, name: string) =>
  `${tenantId}\u0000${customerId}\u0000${name}`

export const rowKey = (tenantId: string, id: string) => `${tenantId}\u0000${id}`

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

interface Recency {
  readonly at: string
  readonly by: string
}

/** Orders by (`at` as an instant, `by`); unparsable dates compare as text. */
const compare = (a: Recency, b: Recency): number => {
  const left = Date.parse(a.at)
  const right = Date.parse(b.at)
  const byTime = Number.isNaN(left) || Number.isNaN(right) ? compareText(a.at, b.at) : Math.sign(left - right)
  return byTime || compareText(a.by, b.by)
}

const setBy = (row: ProfileField): Recency => ({ at: row.updated_at, by: row.source_item_id })

/** When the row's value was last sent: its latest confirmation, or the turn that set it. */
const lastSent = (row: ProfileField): Recency =>
  row.confirmed_at === null || row.confirmed_by === null
    ? setBy(row)
    : { at: row.confirmed_at, by: row.confirmed_by }

/** Orders rows by when they were set (`updated_at` as an instant, `source_item_id`): history order. */
export const compareRecency = (a: ProfileField, b: ProfileField): number => compare(setBy(a), setBy(b))

export interface SupersededRow {
  readonly tenant_id: string
  readonly id: string
  readonly superseded_by_id: string
}

export interface ConfirmedRow {
  readonly tenant_id: string
  readonly id: string
  readonly confirmed_at: string
  readonly confirmed_by: string
}

export interface FieldWritePlan {
  /** New rows in their final state (active, or already superseded; confirmed when it applies). */
  readonly inserts: ReadonlyArray<ProfileField>
  /** Stored active rows that a newer row of this call supersedes. */
  readonly superseded: ReadonlyArray<SupersededRow>
  /** Stored active rows that a newer turn of this call confirmed (their latest confirmation only). */
  readonly confirmed: ReadonlyArray<ConfirmedRow>
}

export interface StoredLookup {
  readonly exists: (tenantId: string, id: string) => boolean
  readonly activeOf: (tenantId: string, customerId: string, name: string) => ProfileField | undefined
}

/**
 * Plans `writes` in array order against what is stored; ids already stored (or repeated) are
 * skipped. A row is active when it was set after the current value was last sent (set or
 * confirmed); otherwise it is stored superseded by the current one.
 */
export const planFieldWrites = (writes: ReadonlyArray<FieldWrite>, stored: StoredLookup): FieldWritePlan => {
  const inserts: Array<ProfileField> = []
  const superseded: Array<SupersededRow> = []
  const confirmed = new Map<string, ConfirmedRow>()
  const seen = new Set<string>()
  /** Per field: the current winner, and its index in `inserts` when it is new in this call. */
  const winners = new Map<string, { readonly row: ProfileField; readonly index: number | null }>()
  const currentOf = (tenantId: string, customerId: string, name: string) => {
    const storedActive = stored.activeOf(tenantId, customerId, name)
    return (
      winners.get(fieldKey(tenantId, customerId, name)) ??
      (storedActive ? { row: storedActive, index: null } : undefined)
    )
  }

  for (const write of writes) {
    if (isConfirmation(write)) {
      const current = currentOf(write.tenant_id, write.customer_id, write.name)
      const sent = { at: write.confirmed_at, by: write.confirmed_by }
      if (current === undefined || current.row.id !== write.id || compare(sent, lastSent(current.row)) <= 0)
        continue
      const row: ProfileField = { ...current.row, confirmed_at: sent.at, confirmed_by: sent.by }
      winners.set(fieldKey(write.tenant_id, write.customer_id, write.name), { row, index: current.index })
      if (current.index === null) {
        const key = rowKey(write.tenant_id, write.id)
        confirmed.set(key, {
          tenant_id: write.tenant_id,
          id: write.id,
          confirmed_at: sent.at,
          confirmed_by: sent.by
        })
      } else inserts[current.index] = row
      continue
    }
    const row = write
    const key = rowKey(row.tenant_id, row.id)
    if (seen.has(key) || stored.exists(row.tenant_id, row.id)) continue
    seen.add(key)
    if (row.status !== "active") {
      inserts.push(row)
      continue
    }
    const current = currentOf(row.tenant_id, row.customer_id, row.name)
    if (current !== undefined && compare(setBy(row), lastSent(current.row)) <= 0) {
      inserts.push({ ...row, status: "superseded", superseded_by_id: current.row.id })
      continue
    }
    if (current !== undefined) {
      if (current.index === null) {
        superseded.push({ tenant_id: row.tenant_id, id: current.row.id, superseded_by_id: row.id })
      } else {
        inserts[current.index] = { ...current.row, status: "superseded", superseded_by_id: row.id }
      }
    }
    const activeRow: ProfileField = row.superseded_by_id === null ? row : { ...row, superseded_by_id: null }
    winners.set(fieldKey(row.tenant_id, row.customer_id, row.name), { row: activeRow, index: inserts.length })
    inserts.push(activeRow)
  }
  return { inserts, superseded, confirmed: [...confirmed.values()] }
}

/** The ids an item derives from: `source_metadata.derived_from` as one id or a list of ids. */
export const derivedFrom = (row: ProfileField): ReadonlyArray<string> => {
  const value = row.source_metadata.derived_from
  if (typeof value === "string") return [value]
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === "string")
  return []
}
