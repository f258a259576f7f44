/** In-memory IngestionStore: results and summaries in maps (the embedded default). */
import { Effect, Layer } from "effect"
import {
  type IngestionResult,
  IngestionStore,
  type IngestionStoreService,
  type SessionSummary
} from "../../ports/IngestionStore"

const key = (tenantId: string, id: string) => `${tenantId}\u0000${id}`

export const make = (): IngestionStoreService => {
  const results = new Map<string, IngestionResult>()
  const summaries = new Map<string, SessionSummary>()
  return {
    completed: (tenantId, turnIds) =>
      Effect.sync(() => new Set(turnIds.filter((id) => results.has(key(tenantId, id))))),
    record: (list) =>
      Effect.sync(() => {
        for (const result of list) {
          const k = key(result.tenant_id, result.turn_id)
          if (!results.has(k)) results.set(k, result)
        }
      }),
    result: (tenantId, turnId) => Effect.sync(() => results.get(key(tenantId, turnId)) ?? null),
    summary: (tenantId, sessionId) => Effect.sync(() => summaries.get(key(tenantId, sessionId)) ?? null),
    saveSummary: (summary) =>
      Effect.sync(() => {
        summaries.set(key(summary.tenant_id, summary.session_id), summary)
      })
  }
}

export const layer = Layer.sync(IngestionStore, make)
