/**
 * `turnvault verify`: recomputes every session's turn-record hash chain, its history ledger and
 * its content hash, and lists what does not match (DESIGN 3.5). Reads through the store ports, so
 * it checks whatever backend is configured.
 */
import { Effect } from "effect"
import { type Broken, checkSession, groupBy, type Problem } from "../../domain/integrity"
import { sessionKey } from "../../domain/model"
import { AuditStore } from "../../ports/AuditStore"
import { SessionStore } from "../../ports/SessionStore"

export type { Broken }

export const verifyStores = (filter: {
  readonly tenantId?: string | undefined
  readonly sessionId?: string | undefined
}) =>
  Effect.gen(function* () {
    const f = {
      ...(filter.tenantId === undefined ? {} : { tenantId: filter.tenantId }),
      ...(filter.sessionId === undefined ? {} : { sessionId: filter.sessionId })
    }
    const sessions = yield* (yield* SessionStore).list(f)
    const audit = yield* AuditStore
    const records = groupBy(yield* audit.listRecords(f), (r) => sessionKey(r.tenant_id, r.session_id))
    const ledger = groupBy(yield* audit.listHistory(f), (e) => sessionKey(e.tenant_id, e.session_id))
    const broken: Array<Broken> = []
    const report = (tenant_id: string, session_id: string, problems: ReadonlyArray<Problem>) => {
      for (const problem of problems) broken.push({ tenant_id, session_id, ...problem })
    }
    const seen = new Set<string>()
    for (const { state, content_hash } of sessions) {
      const key = sessionKey(state.tenant_id, state.session_id)
      seen.add(key)
      const chain = records.get(key) ?? []
      const entries = ledger.get(key) ?? []
      const problems = checkSession(state, content_hash, chain, entries)
      report(state.tenant_id, state.session_id, problems)
    }
    for (const [key, chain] of records) {
      if (!seen.has(key))
        report(chain[0]!.tenant_id, chain[0]!.session_id, [{ problem: "turn records without a session" }])
    }
    return {
      sessions: sessions.length,
      turnRecords: [...records.values()].reduce((n, c) => n + c.length, 0),
      broken
    }
  })
