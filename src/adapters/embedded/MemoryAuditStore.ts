/** In-memory AuditStore: turn records and the session history ledger, append-only. */
import { Clock, Effect, Layer } from "effect"
import type { ChainHead } from "../../domain/checkpoint"
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
  /** When each session last had a record or entry written (the clock's milliseconds). */
  const writtenAt = new Map<string, number>()
  const sessionOf = (row: { readonly tenant_id: string; readonly session_id: string }) =>
    `${row.tenant_id}\u0000${row.session_id}`

  const recordKey = (tenantId: string, turnId: string) => `${tenantId}\u0000${turnId}`
  const entryKey = (entry: SessionHistoryEntry) =>
    `${entry.tenant_id}\u0000${entry.session_id}\u0000${entry.seq}`

  return {
    append: (newRecords, newHistory) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          for (const record of newRecords) {
            const key = recordKey(record.tenant_id, record.turn_id)
            if (records.has(key)) continue
            records.set(key, record)
            writtenAt.set(sessionOf(record), now)
          }
          for (const entry of newHistory) {
            const key = entryKey(entry)
            if (history.has(key)) continue
            history.set(key, entry)
            writtenAt.set(sessionOf(entry), now)
          }
        })
      ),
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
    chainHeads: (since) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const touched = new Set(
          [...writtenAt].filter(([, at]) => since === null || at >= since.getTime()).map(([key]) => key)
        )
        const heads = new Map<string, { -readonly [K in keyof ChainHead]: ChainHead[K] }>()
        const headOf = (row: { readonly tenant_id: string; readonly session_id: string }) => {
          const key = sessionOf(row)
          let head = heads.get(key)
          if (head === undefined) {
            head = {
              tenant_id: row.tenant_id,
              session_id: row.session_id,
              records: 0,
              record_head: null,
              entries: 0,
              entry_head: null
            }
            heads.set(key, head)
          }
          return head
        }
        for (const record of [...records.values()].sort(recordOrder))
          if (touched.has(sessionOf(record))) {
            const head = headOf(record)
            head.records += 1
            head.record_head = record.hash
          }
        for (const entry of [...history.values()].sort(historyOrder))
          if (touched.has(sessionOf(entry))) {
            const head = headOf(entry)
            head.entries += 1
            head.entry_head = entry.entry_hash
          }
        return { cut: new Date(now), heads: [...heads.values()] }
      }),
    listHistory: (filter) =>
      Effect.sync(() => [...history.values()].filter((entry) => matches(entry, filter)).sort(historyOrder))
  }
}

export const layer: Layer.Layer<AuditStore> = Layer.sync(AuditStore, make)
