/**
 * The integrity checks of DESIGN 3.5 as plain functions: a session's turn-record hash chain, its
 * history ledger, and its stored state against both. `turnvault verify` feeds them from the store
 * ports; the admin API's verify endpoint from the tenant path.
 */
import type { TurnRecord } from "../../schemas"
import type { SessionHistoryEntry, SessionState } from "./model"
import { contentHash, ledgerEntryHash } from "./session"
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
    // entries written before entry_hash was kept have none, and the next one chains from none
    if (entry.entry_hash !== null) {
      const recomputed = ledgerEntryHash(entry, previous?.entry_hash ?? null)
      if (recomputed !== entry.entry_hash)
        problems.push({
          at,
          problem: `ledger seq ${entry.seq} (${entry.reason}, event ${entry.event_key}): the entry does not match its entry_hash (stored ${short(entry.entry_hash)}, content and chain hash to ${short(recomputed)}): it, or an entry before it, was changed after it was written`
        })
    }
    previous = entry
  })
  return problems
}

/**
 * The columns a store keeps beside a turn record's hashed JSON: what its queries filter, join and
 * order by. Each must say what the hashed record says, or a query would see another record than
 * the one the chain vouches for.
 */
export interface RecordColumns {
  readonly tenant_id: string
  readonly session_id: string
  readonly turn_id: string
  readonly turn_number: number
  /** An ISO instant. */
  readonly occurred_at: string
  readonly hash: string
  readonly prev_hash: string | null
}

/** The columns a store keeps beside a session's hashed state. */
export interface SessionColumns {
  readonly tenant_id: string
  readonly session_id: string
  readonly customer_id: string
  readonly agent_id: string
  readonly status: string
}

const sameInstant = (a: string, b: string) => a === b || Date.parse(a) === Date.parse(b)

const columnProblem = (where: string, column: string, stored: unknown, hashed: unknown) =>
  `${where}: column ${column} is ${JSON.stringify(stored)} but the hashed content says ${JSON.stringify(hashed)}: it was changed after it was written`

/** A turn record's columns against the record itself (the record's own hash is checkChain's). */
export const recordColumnProblems = (record: TurnRecord, columns: RecordColumns): Array<Problem> => {
  const at = { turn_id: record.turn_id, turn_number: record.turn_number }
  const where = `turn ${record.turn_id}`
  const problems: Array<Problem> = []
  const check = (column: string, stored: unknown, hashed: unknown, same = stored === hashed) => {
    if (!same) problems.push({ at, problem: columnProblem(where, column, stored, hashed) })
  }
  check("session_id", columns.session_id, record.session_id)
  check("turn_number", columns.turn_number, record.turn_number)
  check("hash", columns.hash, record.hash)
  check("prev_hash", columns.prev_hash, record.prev_hash)
  check(
    "occurred_at",
    columns.occurred_at,
    record.occurred_at,
    sameInstant(columns.occurred_at, record.occurred_at)
  )
  return problems
}

/** A session's columns against its hashed state. */
export const sessionColumnProblems = (state: SessionState, columns: SessionColumns): Array<Problem> => {
  const problems: Array<Problem> = []
  for (const column of ["customer_id", "agent_id", "status"] as const)
    if (columns[column] !== state[column])
      problems.push({ problem: columnProblem("session", column, columns[column], state[column]) })
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
  // the state names its ledger's length and head: an entry appended or cut behind it shows
  if (state.history_seq !== (last?.seq ?? 0))
    problems.push({
      problem: `ledger length mismatch: the state counts ${state.history_seq} entries, the ledger ends at seq ${last?.seq ?? 0}`
    })
  if (state.ledger_head !== undefined && state.ledger_head !== last?.entry_hash)
    problems.push({
      problem: `ledger head mismatch: the state names entry ${short(state.ledger_head)}, the last entry ${last === undefined ? "is missing" : `(seq ${last.seq}) is ${short(last.entry_hash)}`}`
    })
  return problems
}

/**
 * checkSession, and the columns stored beside the hashed content against it: what `turnvault
 * verify` and the admin API's verify report for one session.
 */
export const checkStoredSession = (stored: {
  readonly state: SessionState
  readonly content_hash: string
  readonly records: ReadonlyArray<TurnRecord>
  readonly history: ReadonlyArray<SessionHistoryEntry>
  readonly sessionColumns: SessionColumns | undefined
  readonly recordColumns: ReadonlyArray<RecordColumns>
}): Array<Problem> => {
  const columnsOf = new Map(stored.recordColumns.map((c) => [c.turn_id, c]))
  return [
    ...checkSession(stored.state, stored.content_hash, stored.records, stored.history),
    ...(stored.sessionColumns === undefined
      ? []
      : sessionColumnProblems(stored.state, stored.sessionColumns)),
    ...stored.records.flatMap((record) => {
      const columns = columnsOf.get(record.turn_id)
      return columns === undefined ? [] : recordColumnProblems(record, columns)
    })
  ]
}
