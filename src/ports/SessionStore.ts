/** Port: durable session state (DESIGN 3.5). Adapters: embedded/MemorySessionStore, postgres/PgSessionStore. */
import { Context, Data, type Effect } from "effect"
import type { SessionColumns } from "../domain/integrity"
import type { SessionRecord } from "../domain/model"

export class SessionStoreError extends Data.TaggedError("SessionStoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

export interface SessionId {
  readonly tenant_id: string
  readonly session_id: string
}

export interface SessionFilter {
  readonly tenantId?: string
  readonly sessionId?: string
}

export interface SessionStoreService {
  readonly load: (
    tenantId: string,
    sessionId: string
  ) => Effect.Effect<SessionRecord | null, SessionStoreError>
  /** `load` of every id at once (one round trip on a server store): one answer per id, in order. */
  readonly loadMany: (
    ids: ReadonlyArray<SessionId>
  ) => Effect.Effect<ReadonlyArray<SessionRecord | null>, SessionStoreError>
  /**
   * Writes each record (an upsert per session); when a batch carries several records of a session,
   * the last one is what the store keeps. The caller is the session's only writer: in Kafka mode a
   * partition's claim, checked in the same unit of work, fences a stale owner (PartitionOwnership).
   */
  readonly save: (records: ReadonlyArray<SessionRecord>) => Effect.Effect<void, SessionStoreError>
  /** For export and verify: every record matching the filter, ordered by tenant then session. */
  readonly list: (filter: SessionFilter) => Effect.Effect<ReadonlyArray<SessionRecord>, SessionStoreError>
  /**
   * The columns kept beside each state's JSON, in list's order (integrity.ts SessionColumns); a
   * store without such columns answers the state's own fields.
   */
  readonly listColumns: (
    filter: SessionFilter
  ) => Effect.Effect<ReadonlyArray<SessionColumns>, SessionStoreError>
}

export class SessionStore extends Context.Tag("turnvault/SessionStore")<
  SessionStore,
  SessionStoreService
>() {}
