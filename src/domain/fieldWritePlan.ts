/**
 * The last-writer-wins rule of the customer context vault (DESIGN 3.3, 3.6), as one pure function.
 * Both adapters use it: memory over its maps, PostgreSQL over the rows it locked, so the two can
 * never disagree on which row is active.
 */
import type { ProfileField } from "./model"

export const fieldKey = (tenantId: string, customerId: string, name: string) =>
  `${tenantId}\u0000${customerId}\u0000${name}`

export const rowKey = (tenantId: string, id: string) => `${tenantId}\u0000${id}`

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** Orders rows by (`updated_at` as an instant, `source_item_id`); unparsable dates compare as text. */
export const compareRecency = (a: ProfileField, b: ProfileField): number => {
  const left = Date.parse(a.updated_at)
  const right = Date.parse(b.updated_at)
  const byTime =
    Number.isNaN(left) || Number.isNaN(right)
      ? compareText(a.updated_at, b.updated_at)
      : Math.sign(left - right)
  return byTime || compareText(a.source_item_id, b.source_item_id)
}

export interface SupersededRow {
  readonly tenant_id: string
  readonly id: string
  readonly superseded_by_id: string
}

export interface FieldWritePlan {
  /** New rows in their final state (active, or already superseded). */
  readonly inserts: ReadonlyArray<ProfileField>
  /** Stored active rows that a newer row of this call supersedes. */
  readonly superseded: ReadonlyArray<SupersededRow>
}

export interface StoredLookup {
  readonly exists: (tenantId: string, id: string) => boolean
  readonly activeOf: (tenantId: string, customerId: string, name: string) => ProfileField | undefined
}

/** Plans `rows` in array order against what is stored; ids already stored (or repeated) are skipped. */
export const planFieldWrites = (rows: ReadonlyArray<ProfileField>, stored: StoredLookup): FieldWritePlan => {
  const inserts: Array<ProfileField> = []
  const superseded: Array<SupersededRow> = []
  const seen = new Set<string>()
  /** Per field: the current winner, and its index in `inserts` when it is new in this call. */
  const winners = new Map<string, { readonly row: ProfileField; readonly index: number | null }>()

  for (const row of rows) {
    const key = rowKey(row.tenant_id, row.id)
    if (seen.has(key) || stored.exists(row.tenant_id, row.id)) continue
    seen.add(key)
    if (row.status !== "active") {
      inserts.push(row)
      continue
    }
    const field = fieldKey(row.tenant_id, row.customer_id, row.name)
    const storedActive = stored.activeOf(row.tenant_id, row.customer_id, row.name)
    const current = winners.get(field) ?? (storedActive ? { row: storedActive, index: null } : undefined)
    if (current !== undefined && compareRecency(row, current.row) <= 0) {
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
    winners.set(field, { row: activeRow, index: inserts.length })
    inserts.push(activeRow)
  }
  return { inserts, superseded }
}

/** The ids an item derives from: `source_metadata.derived_from` as one id or a list of ids. */
export const derivedFrom = (row: ProfileField): ReadonlyArray<string> => {
  const value = row.source_metadata.derived_from
  if (typeof value === "string") return [value]
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === "string")
  return []
}
