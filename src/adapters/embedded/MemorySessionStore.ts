/** In-memory SessionStore: the embedded default and the test double. Fresh state per layer build. */
import { Effect, Layer } from "effect"
import { type SessionRecord, sessionKey } from "../../domain/model"
import { type SessionFilter, SessionStore, type SessionStoreService } from "../../ports/SessionStore"

const matches = (record: SessionRecord, filter: SessionFilter) =>
  (filter.tenantId === undefined || record.state.tenant_id === filter.tenantId) &&
  (filter.sessionId === undefined || record.state.session_id === filter.sessionId)

const byTenantThenSession = (a: SessionRecord, b: SessionRecord) =>
  compareText(a.state.tenant_id, b.state.tenant_id) || compareText(a.state.session_id, b.state.session_id)

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

export const make = (): SessionStoreService => {
  const records = new Map<string, SessionRecord>()

  return {
    load: (tenantId, sessionId) => Effect.sync(() => records.get(sessionKey(tenantId, sessionId)) ?? null),
    loadMany: (ids) =>
      Effect.sync(() => ids.map((id) => records.get(sessionKey(id.tenant_id, id.session_id)) ?? null)),
    save: (batch) =>
      Effect.sync(() => {
        for (const record of batch)
          records.set(sessionKey(record.state.tenant_id, record.state.session_id), record)
      }),
    list: (filter) =>
      Effect.sync(() =>
        [...records.values()].filter((record) => matches(record, filter)).sort(byTenantThenSession)
      ),
    listColumns: (filter) =>
      Effect.sync(() =>
        [...records.values()]
          .filter((record) => matches(record, filter))
          .sort(byTenantThenSession)
          .map(({ state }) => ({
            tenant_id: state.tenant_id,
            session_id: state.session_id,
            customer_id: state.customer_id,
            agent_id: state.agent_id,
            status: state.status
          }))
      )
  }
}

export const layer: Layer.Layer<SessionStore> = Layer.sync(SessionStore, make)
