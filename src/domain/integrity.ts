/**
 * The integrity checks of DESIGN 3.5 as plain functions: a session's turn-record hash chain, its
 * history ledger, and its stored state against both. `turnvault verify` feeds them from the store
 * ports; the admin API's verify endpoint from the tenant path.
 */
import type { TurnRecord } from "../../schemas"
import type { SessionHistoryEntry, SessionState } from "./model"
import { contentHash } from "./session"
import { recordHash } from "./turnRecord"

/** One thing that does not match, and where: the record or ledger entry it was found at. */
export interface Broken {
  readonly tenant_id: string
  readonly session_id: string
  readonly problem: string
  readonly at?:
    | { readonly turn_id: string; readonly turn_number: number }
    | { readonly seq: number; readonly event_key: string }
}

export type Problem = Omit<Broken, "tenant_id" | "session_id">

export const groupBy = <A>(items: ReadonlyArray<A>, key: (a: A) => string) => {
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

/** Everything that does not match in one session's stored state, chain and ledger. */
export const checkSession = (
  state: SessionState,
  content_hash: string,
  chain: ReadonlyArray<TurnRecord>,
  entries: ReadonlyArray<SessionHistoryEntry>
): Array<Problem> => {
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
  return problems
}
