/** In-memory AuditStore: turn records and the session history ledger, append-only. */
import { Effect, Layer } from "effect"
import type { TurnRecord } from "../../../schemas"
import type { SessionHistoryEntry } from "../../domain/model"
import { type AuditFilter, AuditStore, type AuditStoreService } from "../../ports/AuditStore"

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

const matches = (row: { readonly tenant_id: string; readonly session_id: string }, filter: AuditFilter) =>
  (filter.tenantId === undefined || row.tenant_id === filter.tenantId) &&
  (filter.sessionId === undefined || row.session_id === filter.sessionId)

const recordOrder = (a: TurnRecord, b: TurnRecord) =>
  compareText(a.tenant_id, b.tenant_id) ||
  compareText(a.session_id, b.session_id) ||
  a.turn_number - b.turn_number ||
  compareText(a.turn_id, b.turn_id)

const historyOrder = (a: SessionHistoryEntry, b: SessionHistoryEntry) =>
  compareText(a.tenant_id, b.tenant_id) || compareText(a.session_id, b.session_id) || a.seq - b.seq

export const make = (): AuditStoreService => {
  const records = new Map<string, TurnRecord>()
  const history = new Map<string, SessionHistoryEntry>()

  const recordKey = (tenantId: string, turnId: string) => `${tenantId}\u0000${turnId}`
  const entryKey = (entry: SessionHistoryEntry) =>
    `${entry.tenant_id}\u0000${entry.session_id}\u0000${entry.seq}`

  return {
    append: (newRecords, newHistory) =>
      Effect.sync(() => {
        for (const record of newRecords) {
          const key = recordKey(record.tenant_id, record.turn_id)
          if (!records.has(key)) records.set(key, record)
        }
        for (const entry of newHistory) {
          const key = entryKey(entry)
          if (!history.has(key)) history.set(key, entry)
        }
      }),
    recordedTurns: (tenantId, turnIds) =>
      Effect.sync(() => new Set(turnIds.filter((turnId) => records.has(recordKey(tenantId, turnId))))),
    findRecords: (tenantId, turnIds) =>
      Effect.sync(() => turnIds.flatMap((turnId) => records.get(recordKey(tenantId, turnId)) ?? [])),
    listRecords: (filter) =>
      Effect.sync(() => [...records.values()].filter((record) => matches(record, filter)).sort(recordOrder)),
    listRecordColumns: (filter) =>
      Effect.sync(() =>
        [...records.values()]
          .filter((record) => matches(record, filter))
          .sort(recordOrder)
          .map(({ tenant_id, session_id, turn_id, turn_number, occurred_at, hash, prev_hash }) => ({
            tenant_id,
            session_id,
            turn_id,
            turn_number,
            occurred_at,
            hash,
            prev_hash
          }))
      ),
    listHistory: (filter) =>
      Effect.sync(() => [...history.values()].filter((entry) => matches(entry, filter)).sort(historyOrder))
  }
}

export const layer: Layer.Layer<AuditStore> = Layer.sync(AuditStore, make)
