/**
 * Port: the append-only audit trail: turn records (hash-chained per session) and the session
 * history ledger (DESIGN 3.5). Adapters: embedded/MemoryAuditStore, postgres/PgAuditStore.
 */
import { Context, Data, type Effect } from "effect"
import type { TurnRecord } from "../../schemas"
import type { ChainHead } from "../domain/checkpoint"
import type { RecordColumns } from "../domain/integrity"
import type { SessionHistoryEntry } from "../domain/model"

export class AuditStoreError extends Data.TaggedError("AuditStoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

export interface AuditFilter {
  readonly tenantId?: string
  readonly sessionId?: string
}

export interface AuditStoreService {
  /**
   * Appends turn records and ledger entries. A record whose (tenant_id, turn_id) exists, or an
   * entry whose (tenant_id, session_id, seq) exists, is skipped (replay-safe); nothing is updated.
   */
  readonly append: (
    records: ReadonlyArray<TurnRecord>,
    history: ReadonlyArray<SessionHistoryEntry>
  ) => Effect.Effect<void, AuditStoreError>
  /** Which of these turn ids the tenant already has a record for. */
  readonly recordedTurns: (
    tenantId: string,
    turnIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlySet<string>, AuditStoreError>
  /** The tenant's records of these turn ids (absent ids are skipped), to re-publish a redelivered turn. */
  readonly findRecords: (
    tenantId: string,
    turnIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<TurnRecord>, AuditStoreError>
  /** Turn records in (tenant, session, turn_number) order. */
  readonly listRecords: (filter: AuditFilter) => Effect.Effect<ReadonlyArray<TurnRecord>, AuditStoreError>
  /**
   * The columns kept beside each record's JSON, in listRecords' order (integrity.ts
   * RecordColumns); a store without such columns answers the record's own fields.
   */
  readonly listRecordColumns: (
    filter: AuditFilter
  ) => Effect.Effect<ReadonlyArray<RecordColumns>, AuditStoreError>
  /**
   * Where each session's two chains end, for every session with a turn record or ledger entry
   * written at or after `since` (every session when null); `cut` is the store's clock at the read.
   * What a signed checkpoint covers (domain/checkpoint.ts).
   */
  readonly chainHeads: (
    since: Date | null
  ) => Effect.Effect<{ readonly cut: Date; readonly heads: ReadonlyArray<ChainHead> }, AuditStoreError>
  /** Ledger entries in (tenant, session, seq) order. */
  readonly listHistory: (
    filter: AuditFilter
  ) => Effect.Effect<ReadonlyArray<SessionHistoryEntry>, AuditStoreError>
}

export class AuditStore extends Context.Tag("turnvault/AuditStore")<AuditStore, AuditStoreService>() {}
