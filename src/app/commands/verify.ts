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

/** One thing that does not match, and where: the record or ledger entry it was found at. */
export interface Broken {
  readonly tenant_id: string
  readonly session_id: string
  readonly problem: string
  readonly at?:
    | { readonly turn_id: string; readonly turn_number: number }
    | { readonly seq: number; readonly event_key: string }
}

type Problem = Omit<Broken, "tenant_id" | "session_id">

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

/** Enough of a hash to tell two apart in a message. */
const short = (hash: string | null) => (hash === null ? "none" : hash.slice(0, 12))

const checkChain = (records: ReadonlyArray<TurnRecord>): Array<Problem> => {
  const problems: Array<Problem> = []
  let previous: TurnRecord | null = null
  for (const record of records) {
    const at = { turn_id: record.turn_id, turn_number: record.turn_number }
    const recomputed = recordHash(record)
    if (recomputed !== record.hash)
      problems.push({
        at,
        problem: `turn ${record.turn_id}: the record does not match its hash (stored ${short(record.hash)}, content hashes to ${short(recomputed)}): it was changed after it was written`
      })
    const expected = previous?.hash ?? null
    if (record.prev_hash !== expected)
      problems.push({
        at,
        problem: `turn ${record.turn_id}: chain broken: prev_hash ${short(record.prev_hash)} is not ${previous === null ? "none (the session's first record)" : `the hash ${short(expected)} of turn ${previous.turn_id}`}; a record before it is missing or was replaced`
      })
    previous = record
  }
  return problems
}

const checkLedger = (entries: ReadonlyArray<SessionHistoryEntry>): Array<Problem> => {
  const problems: Array<Problem> = []
  let previous: SessionHistoryEntry | null = null
  entries.forEach((entry, i) => {
    const at = { seq: entry.seq, event_key: entry.event_key }
    if (entry.seq !== i + 1)
      problems.push({
        at,
        problem: `ledger seq ${entry.seq} (${entry.reason}, event ${entry.event_key}): found where seq ${i + 1} was expected; an entry is missing or repeated`
      })
    const expected = previous?.new_content_hash ?? null
    if (entry.prev_content_hash !== expected)
      problems.push({
        at,
        problem: `ledger seq ${entry.seq} (${entry.reason}, event ${entry.event_key}): previous hash mismatch: prev_content_hash ${short(entry.prev_content_hash)} is not ${previous === null ? "none (the first entry)" : `the new_content_hash ${short(expected)} of seq ${previous.seq}`}`
      })
    previous = entry
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
    const report = (tenant_id: string, session_id: string, problems: ReadonlyArray<Problem>) => {
      for (const problem of problems) broken.push({ tenant_id, session_id, ...problem })
    }
    const seen = new Set<string>()
    for (const { state, content_hash } of sessions) {
      const key = sessionKey(state.tenant_id, state.session_id)
      seen.add(key)
      const chain = records.get(key) ?? []
      const entries = ledger.get(key) ?? []
      const problems = [...checkChain(chain), ...checkLedger(entries)]
      const recomputed = contentHash(state)
      if (recomputed !== content_hash)
        problems.push({
          problem: `session state does not match its content hash (stored ${short(content_hash)}, state hashes to ${short(recomputed)}): it was changed after it was written`
        })
      const head = chain.at(-1)
      if ((head?.hash ?? null) !== state.last_record_hash)
        problems.push({
          problem: `last turn record is not the chain head: the state names ${short(state.last_record_hash)}, the last record ${head === undefined ? "is missing" : `(turn ${head.turn_id}) is ${short(head.hash)}`}`
        })
      const last = entries.at(-1)
      if ((last?.new_content_hash ?? null) !== content_hash)
        problems.push({
          problem: `ledger does not end at the stored state: the state's content hash is ${short(content_hash)}, the last entry ${last === undefined ? "is missing" : `(seq ${last.seq}) ends at ${short(last.new_content_hash)}`}`
        })
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
