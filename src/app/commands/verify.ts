/**
 * `turnvault verify`: recomputes every session's turn-record hash chain, its history ledger and
 * its content hash, compares the columns the stores query by with the hashed content, and lists
 * what does not match (DESIGN 3.5). Reads through the store ports, so it checks whatever backend
 * is configured.
 */
import { Effect, Option } from "effect"
import type { KeyObject } from "node:crypto"
import { type CheckpointProblem, checkCheckpoints } from "../../domain/checkpoint"
import { receiptProblems } from "../../domain/erasure"
import { type Broken, checkStoredSession, groupBy, type Problem } from "../../domain/integrity"
import { sessionKey } from "../../domain/model"
import { AuditStore } from "../../ports/AuditStore"
import { CheckpointStore, CheckpointWitness } from "../../ports/CheckpointStore"
import { CustomerKeys } from "../../ports/CustomerKeys"
import { SessionStore } from "../../ports/SessionStore"

export type { Broken }

/** What `verify --checkpoints` adds: every signed checkpoint against the chains stored now. */
export interface CheckpointReport {
  readonly checked: number
  /** Heads compared with the chains (all of them, or those of the tenant or session verified). */
  readonly heads: number
  /** Checkpoints read from the witness topic; null when none is configured (no KAFKA_BROKERS). */
  readonly witnessed: number | null
  /** Stored checkpoints not (yet) on the witness: a publish that failed, retried with the next one. */
  readonly unwitnessed: ReadonlyArray<number>
  readonly broken: ReadonlyArray<CheckpointProblem>
}

/**
 * Recomputes what the stores hold (see the file's comment); with `checkpoints` (the public key),
 * also checks every signed checkpoint, and the witness's copies when a CheckpointWitness is given.
 */
export const verifyStores = (
  filter: {
    readonly tenantId?: string | undefined
    readonly sessionId?: string | undefined
  },
  checkpoints?: KeyObject
) =>
  Effect.gen(function* () {
    const f = {
      ...(filter.tenantId === undefined ? {} : { tenantId: filter.tenantId }),
      ...(filter.sessionId === undefined ? {} : { sessionId: filter.sessionId })
    }
    const store = yield* SessionStore
    const sessions = yield* store.list(f)
    const sessionColumns = new Map(
      (yield* store.listColumns(f)).map((c) => [sessionKey(c.tenant_id, c.session_id), c])
    )
    const audit = yield* AuditStore
    const listed = yield* audit.listRecords(f)
    const records = groupBy(listed, (r) => sessionKey(r.tenant_id, r.session_id))
    // by (tenant, turn): a record whose session_id column was changed still meets its record
    const recordColumns = new Map(
      (yield* audit.listRecordColumns(f)).map((c) => [`${c.tenant_id}\u0000${c.turn_id}`, c])
    )
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
      const problems = checkStoredSession({
        state,
        content_hash,
        records: chain,
        history: entries,
        sessionColumns: sessionColumns.get(key),
        recordColumns: chain.flatMap((r) => recordColumns.get(`${r.tenant_id}\u0000${r.turn_id}`) ?? [])
      })
      report(state.tenant_id, state.session_id, problems)
    }
    for (const [key, chain] of records) {
      if (!seen.has(key))
        report(chain[0]!.tenant_id, chain[0]!.session_id, [{ problem: "turn records without a session" }])
    }
    // the erasure receipts: each tenant's chain (a filter by session does not narrow them)
    const receipts = yield* Effect.flatMap(CustomerKeys, (keys) => keys.receipts(f.tenantId))
    const receiptsByTenant = groupBy(receipts, (r) => r.tenant_id)
    const checkpointReport =
      checkpoints === undefined
        ? undefined
        : yield* Effect.gen(function* () {
            const stored = yield* Effect.flatMap(CheckpointStore, (store) => store.list())
            const witness = yield* Effect.serviceOption(CheckpointWitness)
            const witnessed = Option.isNone(witness) ? null : yield* witness.value.read()
            const examined = (tenantId: string, sessionId: string) =>
              (f.tenantId === undefined || f.tenantId === tenantId) &&
              (f.sessionId === undefined || f.sessionId === sessionId)
            let heads = 0
            const { problems, unwitnessed } = checkCheckpoints({
              stored,
              witnessed,
              publicKey: checkpoints,
              receiptsOf: (tenantId) =>
                f.tenantId === undefined || f.tenantId === tenantId
                  ? (receiptsByTenant.get(tenantId) ?? [])
                  : null,
              chainsOf: (tenantId, sessionId) => {
                if (!examined(tenantId, sessionId)) return null
                heads += 1
                const key = sessionKey(tenantId, sessionId)
                return { records: records.get(key) ?? [], entries: ledger.get(key) ?? [] }
              }
            })
            return {
              checked: stored.length,
              heads,
              witnessed: witnessed === null ? null : witnessed.length,
              unwitnessed,
              broken: problems
            } satisfies CheckpointReport
          })
    const erasures = {
      receipts: receipts.length,
      broken: [...receiptsByTenant].flatMap(([tenant_id, list]) =>
        receiptProblems(list).map((problem) => ({ tenant_id, problem }))
      )
    }
    return {
      sessions: sessions.length,
      turnRecords: [...records.values()].reduce((n, c) => n + c.length, 0),
      broken,
      erasures,
      ...(checkpointReport === undefined ? {} : { checkpoints: checkpointReport })
    }
  })
