/** In-memory QuarantineStore: parked events in parking order. */
import { Effect, Layer } from "effect"
import {
  type QuarantinedSession,
  QuarantineStore,
  type QuarantineStoreService,
  type StoredParkedEvent
} from "../../ports/QuarantineStore"

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

export const make = (): QuarantineStoreService => {
  const rows: Array<StoredParkedEvent> = []
  let next = 1

  const sessionOf = (rows: ReadonlyArray<StoredParkedEvent>): QuarantinedSession => {
    const first = rows[0]!
    return {
      tenant_id: first.tenant_id,
      session_id: first.session_id,
      customer_id: first.customer_id,
      topic: first.topic,
      partition: first.partition,
      events: rows.length,
      first_parked_at: first.parked_at,
      reason: first.reason,
      error: first.error
    }
  }

  return {
    park: (events) =>
      Effect.sync(() => {
        const parkedAt = new Date().toISOString()
        for (const event of events)
          rows.push({
            ...event,
            seq: String(next++),
            status: "parked",
            parked_at: parkedAt,
            resolved_by: null
          })
      }),
    resolve: (resolutions) =>
      Effect.sync(() => {
        for (const resolution of resolutions) {
          const seqs = new Set(resolution.seqs)
          for (const [i, row] of rows.entries()) {
            if (
              row.tenant_id === resolution.tenant_id &&
              row.session_id === resolution.session_id &&
              row.status === "parked" &&
              seqs.has(row.seq)
            )
              rows[i] = { ...row, status: resolution.status, resolved_by: resolution.by }
          }
        }
      }),
    sessions: (filter) =>
      Effect.sync(() => {
        const bySession = new Map<string, Array<StoredParkedEvent>>()
        for (const row of rows) {
          if (row.status !== "parked") continue
          if (filter.tenantId !== undefined && row.tenant_id !== filter.tenantId) continue
          if (filter.topic !== undefined && row.topic !== filter.topic) continue
          if (filter.partition !== undefined && row.partition !== filter.partition) continue
          const key = `${row.tenant_id}\u0000${row.session_id}`
          bySession.set(key, [...(bySession.get(key) ?? []), row])
        }
        return [...bySession.values()]
          .map(sessionOf)
          .sort((a, b) => compareText(a.tenant_id, b.tenant_id) || compareText(a.session_id, b.session_id))
      }),
    events: (tenantId, sessionId) =>
      Effect.sync(() => rows.filter((row) => row.tenant_id === tenantId && row.session_id === sessionId)),
    resolvedBy: (by) => Effect.sync(() => rows.filter((row) => row.resolved_by === by)),
    parkedOffsets: (topic, partition, offsets) =>
      Effect.sync(() => {
        const wanted = new Set(offsets)
        return new Set(
          rows
            .filter((row) => row.topic === topic && row.partition === partition && wanted.has(row.offset))
            .map((row) => row.offset)
        )
      })
  }
}

export const layer = Layer.sync(QuarantineStore, make)
