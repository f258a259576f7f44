/**
 * `turnvault verify`: recomputes every session's turn-record hash chain, its history ledger and
 * its content hash, and lists what does not match (DESIGN 3.5). Reads through the store ports, so
 * it checks whatever backend is configured.
 */
import { Effect } from "effect"
import type { TurnRecord } from "../../../schemas"
import { type SessionHistoryEntry, sessionKey } from "../../domain/model"
import { contentHash } from "../../domain/session"
import { recordHash } from "../../domain/turnRecord"
import { AuditStore } from "../../ports/AuditStore"
import { SessionStore } from "../../ports/SessionStore"

export interface Broken {
  readonly tenant_id: string
  readonly session_id: string
  readonly problem: string
}

const groupBy = <A>(items: ReadonlyArray<A>, key: (a: A) => string) => {
  const groups = new Map<string, Array<A>>()
  for (const item of items) {
    const k = key(item)
    const list = groups.get(k)
    if (list === undefined) groups.set(k, [item])
    else list.push(item)
  }
  return groups
}

const checkChain = (records: ReadonlyArray<TurnRecord>): Array<string> => {
  const problems: Array<string> = []
  let previous: string | null = null
  for (const record of records) {
    if (recordHash(record) !== record.hash)
      problems.push(`turn ${record.turn_id}: record does not match its hash`)
    if (record.prev_hash !== previous)
      problems.push(`turn ${record.turn_id}: chain broken (prev_hash mismatch)`)
    previous = record.hash
  }
  return problems
}

const checkLedger = (entries: ReadonlyArray<SessionHistoryEntry>): Array<string> => {
  const problems: Array<string> = []
  let previous: string | null = null
  entries.forEach((entry, i) => {
    if (entry.seq !== i + 1) problems.push(`ledger: seq ${entry.seq} where ${i + 1} was expected`)
    if (entry.prev_content_hash !== previous) problems.push(`ledger seq ${entry.seq}: previous hash mismatch`)
    previous = entry.new_content_hash
  })
  return problems
}

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
    const report = (tenant_id: string, session_id: string, problems: ReadonlyArray<string>) => {
      for (const problem of problems) broken.push({ tenant_id, session_id, problem })
    }
    const seen = new Set<string>()
    for (const { state, content_hash } of sessions) {
      const key = sessionKey(state.tenant_id, state.session_id)
      seen.add(key)
      const chain = records.get(key) ?? []
      const entries = ledger.get(key) ?? []
      const problems = [...checkChain(chain), ...checkLedger(entries)]
      if (contentHash(state) !== content_hash) problems.push("session state does not match its content hash")
      if ((chain.at(-1)?.hash ?? null) !== state.last_record_hash)
        problems.push("last turn record is not the chain head")
      if ((entries.at(-1)?.new_content_hash ?? null) !== content_hash)
        problems.push("ledger does not end at the stored state")
      report(state.tenant_id, state.session_id, problems)
    }
    for (const [key, chain] of records) {
      if (!seen.has(key))
        report(chain[0]!.tenant_id, chain[0]!.session_id, ["turn records without a session"])
    }
    return {
      sessions: sessions.length,
      turnRecords: [...records.values()].reduce((n, c) => n + c.length, 0),
      broken
    }
  })
