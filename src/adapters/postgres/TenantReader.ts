/**
 * The tenant-scoped read path (DESIGN 3.7) for tenant-facing callers such as the admin API.
 *
 * Reads run on a pool of its own that logs in as `turnvault_authenticator` (no rights of its own,
 * member of `turnvault_tenant` only; migration 0013), each in a transaction as the tenant role.
 * Which tenant a connection may read is bound by the processor, in `tenant_bindings` keyed by the
 * connection's backend pid, and the tenant policies compare with that binding: nothing a statement
 * on the tenant connection does (RESET ROLE, SET ROLE, set_config, a cursor or temporary table left
 * by an earlier request) reaches another tenant's rows. A connection that moves to another tenant
 * is reset first (DISCARD ALL), so nothing of the previous tenant's session survives on it; the
 * pool (TenantPool) hands a request a connection of its own tenant first, so that is rare.
 */
import { Context, Data, Duration, Effect, Layer } from "effect"
import type pg from "pg"
import type { FieldDefinition, ScenarioFieldRequirement, TurnRecord } from "../../../schemas"
import type { ProfileAsset, ProfileField, SessionHistoryEntry, SessionState } from "../../domain/model"
import type { SessionSummary } from "../../ports/IngestionStore"
import { groupBy, type RecordColumns } from "../../domain/integrity"
import { PgClient } from "./PgClient"
import { makeTenantPool, type TenantConnection } from "./TenantPool"
import * as Sql from "./profileSql"

export class TenantReadError extends Data.TaggedError("TenantReadError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

export const TENANT_ROLE = "turnvault_tenant"
export const AUTHENTICATOR_ROLE = "turnvault_authenticator"

/** A statement on the tenant's connection, inside its transaction. */
export type TenantQuery = <R extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  params?: ReadonlyArray<unknown>
) => Effect.Effect<pg.QueryResult<R>, TenantReadError>

export interface TenantReaderService {
  /** Runs `use` in a fresh transaction on a connection bound to `tenantId`, as the tenant role. */
  readonly withTenant: <A, E, R>(
    tenantId: string,
    use: (query: TenantQuery) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | TenantReadError, R>
  /** The customer's rows, history included. The query has no tenant filter: RLS provides it. */
  readonly listProfile: (
    tenantId: string,
    customerId: string
  ) => Effect.Effect<ReadonlyArray<ProfileField>, TenantReadError>
  /** A session's turn records by turn number; at most `page.limit` after `page.after` when given. */
  readonly listTurnRecords: (
    tenantId: string,
    sessionId: string,
    page?: { readonly after?: number; readonly limit: number }
  ) => Effect.Effect<ReadonlyArray<TurnRecord>, TenantReadError>
  /**
   * The tenant's turn records matching the filter, by (occurred_at, turn_id), at most `limit`,
   * after the keyset position `after`.
   */
  readonly searchTurns: (
    tenantId: string,
    filter: TurnFilter
  ) => Effect.Effect<ReadonlyArray<TurnRecord>, TenantReadError>
  /** An agent's scenario requirements. */
  readonly listRequirements: (
    tenantId: string,
    agentId: string
  ) => Effect.Effect<ReadonlyArray<ScenarioFieldRequirement>, TenantReadError>
  /**
   * The tenant's sessions matching the filter, by session id, at most `limit`, after `after` (a
   * session id: keyset pagination, so a page never repeats or skips a row that existed).
   */
  readonly listSessions: (
    tenantId: string,
    filter: SessionFilter
  ) => Effect.Effect<ReadonlyArray<SessionRow>, TenantReadError>
  /** A session's history ledger, in order. */
  readonly listHistory: (
    tenantId: string,
    sessionId: string
  ) => Effect.Effect<ReadonlyArray<SessionHistoryEntry>, TenantReadError>
  /** A session's rolling summary (IngestionStore's), or null. */
  readonly sessionSummary: (
    tenantId: string,
    sessionId: string
  ) => Effect.Effect<SessionSummary | null, TenantReadError>
  /** An item and what it derives from, nearest first (ProfileStore.derivationChain's answer). */
  readonly itemChain: (
    tenantId: string,
    id: string
  ) => Effect.Effect<ReadonlyArray<ProfileField>, TenantReadError>
  /** The live items that name `id` in their derived_from (ProfileStore.derivedItems' answer). */
  readonly derivedItems: (
    tenantId: string,
    id: string
  ) => Effect.Effect<ReadonlyArray<ProfileField>, TenantReadError>
  /** The customer's assets, by id. */
  readonly listAssets: (
    tenantId: string,
    customerId: string
  ) => Effect.Effect<ReadonlyArray<ProfileAsset>, TenantReadError>
  /** The tenant's quarantined sessions: parked events per session, by status, by session id. */
  readonly quarantinedSessions: (
    tenantId: string
  ) => Effect.Effect<ReadonlyArray<QuarantinedSession>, TenantReadError>
  /** An agent's field definitions, by name (with their versions). */
  readonly listDefinitions: (
    tenantId: string,
    agentId: string
  ) => Effect.Effect<ReadonlyArray<FieldDefinition>, TenantReadError>
  /**
   * One session, or every session of one customer, each with its turn records and history ledger,
   * all read in one REPEATABLE READ snapshot: a batch committing meanwhile is wholly in it or
   * wholly out of it, so the integrity checks never see half a batch (DESIGN 3.5).
   */
  readonly integritySnapshot: (
    tenantId: string,
    target: { readonly session: string } | { readonly customer: string }
  ) => Effect.Effect<ReadonlyArray<SessionWithAudit>, TenantReadError>
  /** One session's stored state, or null. */
  readonly getSession: (
    tenantId: string,
    sessionId: string
  ) => Effect.Effect<SessionRow | null, TenantReadError>
  /**
   * The customer's vault as it stood at an instant, or right after a turn (its `occurred_at`,
   * ties broken by turn id like last-writer-wins): per field, the latest row written by then
   * that had not expired (`expires_at`) or been deleted (tombstone) by then. Null when the turn is
   * not the tenant's. See DESIGN 8 for what it cannot date (case closures, orphaning).
   */
  readonly vaultAsOf: (
    tenantId: string,
    customerId: string,
    as: { readonly at: string } | { readonly turnId: string }
  ) => Effect.Effect<
    { readonly at: string; readonly fields: ReadonlyArray<ProfileField> } | null,
    TenantReadError
  >
}

export interface QuarantinedSession {
  readonly session_id: string
  readonly customer_id: string
  readonly parked: number
  readonly released: number
  readonly dropped: number
  readonly first_parked_at: string
  /** The first parked event's reason and database error (no values). */
  readonly reason: string
  readonly error: string
}

export interface TurnFilter {
  readonly category?: string
  readonly resolution?: string
  /** occurred at or after / before these instants */
  readonly from?: string
  readonly to?: string
  readonly after?: { readonly occurred_at: string; readonly turn_id: string }
  readonly limit: number
}

export interface SessionFilter {
  readonly customerId?: string
  readonly status?: string
  /** Sessions updated at or after / before these instants. */
  readonly updatedFrom?: string
  readonly updatedTo?: string
  readonly after?: string
  readonly limit: number
}

/** A session with its turn records (by turn number) and its ledger (by seq). */
export interface SessionWithAudit {
  readonly session: SessionRow
  readonly records: ReadonlyArray<TurnRecord>
  /** The columns kept beside each record's JSON, in the same order. */
  readonly recordColumns: ReadonlyArray<RecordColumns>
  readonly history: ReadonlyArray<SessionHistoryEntry>
}

/** A stored session: its columns and its state as the domain wrote it. */
export interface SessionRow {
  readonly session_id: string
  readonly customer_id: string
  readonly agent_id: string
  readonly status: string
  readonly updated_at: string
  readonly content_hash: string
  readonly state: SessionState
}

export class TenantReader extends Context.Tag("turnvault/TenantReader")<
  TenantReader,
  TenantReaderService
>() {}

export interface TenantReaderConfig {
  /** Where the authenticator logs in (see `authenticatorUrl`). */
  readonly connectionString: string
  /** Connections of the tenant pool, apart from the stream's (default 4). */
  readonly max?: number
}

/** The processor's database URL with the authenticator as its user (no password: set one in production). */
export const authenticatorUrl = (databaseUrl: string): string => {
  const url = new URL(databaseUrl)
  url.username = AUTHENTICATOR_ROLE
  url.password = ""
  return url.toString()
}

/** $1 resolution, $2 category, $3/$4 occurred range, $5/$6 keyset position, $7 limit. */
const SEARCH_TURNS = `
SELECT record FROM turn_records
WHERE ($1::text IS NULL OR record -> 'outcome' ->> 'resolution' = $1)
  AND ($2::text IS NULL OR record -> 'outcome' -> 'categories' @> jsonb_build_array(jsonb_build_object('category', $2::text)))
  AND ($3::timestamptz IS NULL OR occurred_at >= $3::timestamptz)
  AND ($4::timestamptz IS NULL OR occurred_at < $4::timestamptz)
  AND ($5::timestamptz IS NULL OR (occurred_at, turn_id COLLATE "C") > ($5::timestamptz, $6::text COLLATE "C"))
ORDER BY occurred_at, turn_id COLLATE "C"
LIMIT $7`

const SESSION_COLUMNS = "session_id, customer_id, agent_id, status, updated_at, content_hash, state"

const LIST_SESSIONS = `
SELECT ${SESSION_COLUMNS} FROM sessions
WHERE ($1::text IS NULL OR customer_id = $1)
  AND ($2::text IS NULL OR status = $2)
  AND ($3::timestamptz IS NULL OR updated_at >= $3::timestamptz)
  AND ($4::timestamptz IS NULL OR updated_at < $4::timestamptz)
  AND ($5::text IS NULL OR session_id COLLATE "C" > $5)
ORDER BY session_id COLLATE "C"
LIMIT $6`

interface SessionDbRow extends Omit<SessionRow, "updated_at"> {
  readonly updated_at: Date
}

const sessionOf = (row: SessionDbRow): SessionRow => ({ ...row, updated_at: row.updated_at.toISOString() })

/** $1 customer, $2 instant, $3 the last source item that counts at that instant (null: all). */
const VAULT_AS_OF = `
SELECT DISTINCT ON (p.name) ${Sql.COLUMNS} FROM profile_fields AS p
WHERE p.customer_id = $1
  AND (p.updated_at::timestamptz < $2::timestamptz
    OR (p.updated_at::timestamptz = $2::timestamptz AND ($3::text IS NULL OR p.source_item_id COLLATE "C" <= $3)))
  AND (p.expires_at IS NULL OR p.expires_at::timestamptz > $2::timestamptz)
  AND NOT EXISTS (
    SELECT 1 FROM profile_tombstones AS t WHERE t.item_id = p.id AND t.deleted_at <= $2::timestamptz)
ORDER BY p.name, p.updated_at::timestamptz DESC, p.source_item_id COLLATE "C" DESC`

/** A read of several statements that must agree with each other: one snapshot. */
const SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

const HISTORY = `
SELECT tenant_id, session_id, seq::float8 AS seq, event_key, turn_id, prev_content_hash, new_content_hash,
  from_status, to_status, actor, reason, occurred_at, entry_hash
FROM session_history`

const BIND = `
INSERT INTO tenant_bindings (pid, bound_tenant_id, bound_at) VALUES ($1, $2, now())
ON CONFLICT (pid) DO UPDATE SET bound_tenant_id = EXCLUDED.bound_tenant_id, bound_at = now()`

/** Bindings of backends that are gone (a pid the server may hand out again). */
const FORGET_GONE = `DELETE FROM tenant_bindings WHERE pid NOT IN (SELECT pid FROM pg_stat_activity)`

const UNBIND = `DELETE FROM tenant_bindings WHERE pid = $1`

export const make = (config: TenantReaderConfig) =>
  Effect.gen(function* () {
    const processor = yield* PgClient
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => makeTenantPool(config.connectionString, config.max ?? 4)),
      (pool) => Effect.promise(() => pool.end()).pipe(Effect.timeout(Duration.seconds(10)), Effect.ignore)
    )

    const onClient =
      (client: pg.Client, operation: string): TenantQuery =>
      (text, params = []) =>
        Effect.uninterruptible(
          Effect.tryPromise({
            try: () => client.query(text, params as Array<unknown>),
            catch: (cause) => new TenantReadError({ operation, cause })
          })
        )

    const asProcessor = (operation: string, text: string, params: ReadonlyArray<unknown>) =>
      Effect.mapError(
        processor.query(text, params),
        (error) => new TenantReadError({ operation, cause: error.cause })
      )

    /** Binds the connection to `tenantId`, resetting its session first when it served another. */
    const bind = (connection: TenantConnection, tenantId: string) =>
      Effect.gen(function* () {
        if (connection.tenant === tenantId) return
        // a new backend may reuse the pid of one that is gone: its binding must not survive
        if (connection.fresh) yield* asProcessor("bind.forgetGone", FORGET_GONE, [])
        else {
          connection.tenant = null
          // cursors WITH HOLD, temporary tables, settings, prepared statements: gone (until
          // this succeeds the connection is bound to nobody, and the next use resets it again)
          yield* onClient(connection.client, "bind.discard")("DISCARD ALL")
        }
        yield* asProcessor("bind", BIND, [connection.pid, tenantId])
        // for the session, so a single read needs no transaction (RESET ROLE leaves nothing readable)
        yield* onClient(connection.client, "bind.role")(`SET ROLE ${TENANT_ROLE}`)
        connection.tenant = tenantId
        connection.fresh = false
      })

    /** A connection whose request failed is reset and bound again before its next use. */
    const forget = (connection: TenantConnection) =>
      Effect.sync(() => {
        connection.tenant = null
        connection.fresh = false
      })

    const acquire = (tenantId: string) =>
      Effect.tryPromise({
        try: () => pool.acquire(tenantId),
        catch: (cause) => new TenantReadError({ operation: "connect", cause })
      })

    /**
     * One statement on a connection bound to `tenantId`, as the tenant role, without a transaction
     * (one round trip). Most reads are one statement; `withTenant` is for those that are not.
     */
    const read = <R extends pg.QueryResultRow>(
      operation: string,
      tenantId: string,
      text: string,
      params: ReadonlyArray<unknown>
    ) =>
      Effect.acquireUseRelease(
        acquire(tenantId),
        (connection) =>
          Effect.zipRight(
            bind(connection, tenantId),
            onClient(connection.client, operation)<R>(text, params)
          ),
        (connection, exit) =>
          Effect.zipRight(
            exit._tag === "Success" ? Effect.void : forget(connection),
            release(connection, true)
          )
      )

    /** Gives a connection back; one whose state is unknown is closed and its binding dropped. */
    const release = (connection: TenantConnection, healthy: boolean) =>
      healthy
        ? Effect.sync(() => pool.release(connection, true))
        : Effect.zipRight(
            Effect.sync(() => pool.release(connection, false)),
            Effect.ignore(asProcessor("unbind", UNBIND, [connection.pid]))
          )

    const withTenant = <A, E, R>(
      tenantId: string,
      use: (query: TenantQuery) => Effect.Effect<A, E, R>,
      begin = "BEGIN"
    ) =>
      Effect.acquireUseRelease(
        acquire(tenantId),
        (connection) => {
          const query = onClient(connection.client, "withTenant")
          return bind(connection, tenantId).pipe(
            // one round trip: a simple-protocol string may hold several statements
            Effect.zipRight(query(`${begin}; SET LOCAL ROLE ${TENANT_ROLE}`)),
            Effect.zipRight(use(query)),
            Effect.tap(() => query("COMMIT"))
          )
        },
        (connection, exit) =>
          exit._tag === "Success"
            ? release(connection, true)
            : onClient(
                connection.client,
                "rollback"
              )("ROLLBACK").pipe(
                Effect.matchEffect({
                  onFailure: () => release(connection, false),
                  onSuccess: () => Effect.zipRight(forget(connection), release(connection, true))
                })
              )
      )

    const listProfile = (tenantId: string, customerId: string) =>
      read<Sql.FieldRow>(
        "listProfile",
        tenantId,
        `SELECT ${Sql.COLUMNS} FROM profile_fields WHERE customer_id = $1 ORDER BY ${Sql.LIST_ORDER}`,
        [customerId]
      ).pipe(Effect.map((result) => result.rows.map(Sql.fromRow)))

    const listTurnRecords = (
      tenantId: string,
      sessionId: string,
      page?: { readonly after?: number; readonly limit: number }
    ) =>
      read<{ record: TurnRecord }>(
        "listTurnRecords",
        tenantId,
        `SELECT record FROM turn_records WHERE session_id = $1 AND ($2::int IS NULL OR turn_number > $2)
           ORDER BY turn_number, turn_id COLLATE "C" LIMIT $3`,
        [sessionId, page?.after ?? null, page?.limit ?? null]
      ).pipe(Effect.map((result) => result.rows.map((row) => row.record)))

    const searchTurns = (tenantId: string, filter: TurnFilter) =>
      read<{ record: TurnRecord }>("searchTurns", tenantId, SEARCH_TURNS, [
        filter.resolution ?? null,
        filter.category ?? null,
        filter.from ?? null,
        filter.to ?? null,
        filter.after?.occurred_at ?? null,
        filter.after?.turn_id ?? null,
        filter.limit
      ]).pipe(Effect.map((result) => result.rows.map((row) => row.record)))

    const listRequirements = (tenantId: string, agentId: string) =>
      rowsOf(
        `SELECT requirement || jsonb_build_object('version', version) AS requirement FROM scenario_requirements
         WHERE agent_id = $1 ORDER BY scenario_id COLLATE "C", step_id COLLATE "C", field_name COLLATE "C"`,
        (row: { requirement: ScenarioFieldRequirement }) => row.requirement
      )(tenantId, agentId)

    const vaultAsOf = (
      tenantId: string,
      customerId: string,
      as: { readonly at: string } | { readonly turnId: string }
    ) =>
      withTenant(
        tenantId,
        (query) =>
          Effect.gen(function* () {
            let at: string
            let lastItem: string | null = null
            if ("turnId" in as) {
              const turn = yield* query<{ occurred_at: Date }>(
                "SELECT occurred_at FROM turn_records WHERE turn_id = $1",
                [as.turnId]
              )
              if (turn.rows[0] === undefined) return null
              at = turn.rows[0].occurred_at.toISOString()
              lastItem = as.turnId
            } else at = new Date(as.at).toISOString()
            const rows = yield* query<Sql.FieldRow>(VAULT_AS_OF, [customerId, at, lastItem])
            const fields = rows.rows
              .map(Sql.fromRow)
              .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
            return { at, fields }
          }),
        SNAPSHOT
      )

    const listSessions = (tenantId: string, filter: SessionFilter) =>
      read<SessionDbRow>("listSessions", tenantId, LIST_SESSIONS, [
        filter.customerId ?? null,
        filter.status ?? null,
        filter.updatedFrom ?? null,
        filter.updatedTo ?? null,
        filter.after ?? null,
        filter.limit
      ]).pipe(Effect.map((result) => result.rows.map(sessionOf)))

    const getSession = (tenantId: string, sessionId: string) =>
      read<SessionDbRow>(
        "getSession",
        tenantId,
        `SELECT ${SESSION_COLUMNS} FROM sessions WHERE session_id = $1`,
        [sessionId]
      ).pipe(Effect.map((result) => (result.rows[0] === undefined ? null : sessionOf(result.rows[0]))))

    const rowsOf =
      <R extends pg.QueryResultRow, A>(text: string, map: (row: R) => A) =>
      (tenantId: string, ...params: ReadonlyArray<unknown>) =>
        read<R>("read", tenantId, text, params).pipe(Effect.map((result) => result.rows.map(map)))

    const sessionSummary = (tenantId: string, sessionId: string) =>
      read<Omit<SessionSummary, "updated_at"> & { updated_at: Date }>(
        "sessionSummary",
        tenantId,
        `SELECT tenant_id, session_id, customer_id, summary, covers_turn_ids, through_turn_number, template, model, updated_at
         FROM session_summaries WHERE session_id = $1`,
        [sessionId]
      ).pipe(
        Effect.map((result) => {
          const row = result.rows[0]
          return row === undefined ? null : { ...row, updated_at: row.updated_at.toISOString() }
        })
      )

    const listHistory = (tenantId: string, sessionId: string) =>
      rowsOf(`${HISTORY} WHERE session_id = $1 ORDER BY seq`, (row: SessionHistoryEntry) => row)(
        tenantId,
        sessionId
      )

    const integritySnapshot = (
      tenantId: string,
      target: { readonly session: string } | { readonly customer: string }
    ) =>
      withTenant(
        tenantId,
        (query) =>
          Effect.gen(function* () {
            const sessions = (yield* query<SessionDbRow>(
              "session" in target
                ? `SELECT ${SESSION_COLUMNS} FROM sessions WHERE session_id = $1`
                : `SELECT ${SESSION_COLUMNS} FROM sessions WHERE customer_id = $1 ORDER BY session_id COLLATE "C"`,
              ["session" in target ? target.session : target.customer]
            )).rows.map(sessionOf)
            const ids = sessions.map((row) => row.session_id)
            const records = yield* query<
              { record: TurnRecord } & Omit<RecordColumns, "occurred_at"> & { occurred_at: Date }
            >(
              `SELECT record, tenant_id, session_id, turn_id, turn_number, occurred_at, hash, prev_hash
               FROM turn_records WHERE session_id = ANY($1::text[])
               ORDER BY turn_number, turn_id COLLATE "C"`,
              [ids]
            )
            const history = yield* query<SessionHistoryEntry>(
              `${HISTORY} WHERE session_id = ANY($1::text[]) ORDER BY seq`,
              [ids]
            )
            const recordsOf = groupBy(
              records.rows.map((r) => r.record),
              (r) => r.session_id
            )
            const columnsOf = groupBy(
              records.rows.map(({ record: _, occurred_at, ...columns }) => ({
                ...columns,
                occurred_at: occurred_at.toISOString()
              })),
              (r) => r.session_id
            )
            const historyOf = groupBy(history.rows, (h) => h.session_id)
            return sessions.map((session) => ({
              session,
              records: recordsOf.get(session.session_id) ?? [],
              recordColumns: columnsOf.get(session.session_id) ?? [],
              history: historyOf.get(session.session_id) ?? []
            }))
          }),
        SNAPSHOT
      )

    // the store's own statements, run on the tenant path: RLS holds them to the tenant too
    const itemChain = (tenantId: string, id: string) =>
      rowsOf(Sql.DERIVATION_CHAIN, Sql.fromRow)(tenantId, tenantId, id)
    const derivedItems = (tenantId: string, id: string) =>
      rowsOf(Sql.DERIVED_ITEMS, Sql.fromRow)(tenantId, tenantId, id)
    const listAssets = (tenantId: string, customerId: string) =>
      rowsOf(Sql.LIST_ASSETS, (row: ProfileAsset) => row)(tenantId, tenantId, customerId)

    const listDefinitions = (tenantId: string, agentId: string) =>
      rowsOf(
        `SELECT definition || jsonb_build_object('version', version) AS definition FROM field_definitions
         WHERE agent_id = $1 ORDER BY name COLLATE "C"`,
        (row: { definition: FieldDefinition }) => row.definition
      )(tenantId, agentId)

    const quarantinedSessions = (tenantId: string) =>
      rowsOf(
        `SELECT session_id, min(customer_id) AS customer_id,
           count(*) FILTER (WHERE status = 'parked')::int AS parked,
           count(*) FILTER (WHERE status = 'released')::int AS released,
           count(*) FILTER (WHERE status = 'dropped')::int AS dropped,
           min(parked_at) AS first_parked_at,
           (array_agg(reason ORDER BY seq))[1] AS reason, (array_agg(error ORDER BY seq))[1] AS error
         FROM quarantined_events GROUP BY session_id ORDER BY session_id COLLATE "C"`,
        (row: Omit<QuarantinedSession, "first_parked_at"> & { first_parked_at: Date }) => ({
          ...row,
          first_parked_at: row.first_parked_at.toISOString()
        })
      )(tenantId)

    return TenantReader.of({
      quarantinedSessions,
      searchTurns,
      listRequirements,
      listDefinitions,
      withTenant,
      listProfile,
      listTurnRecords,
      vaultAsOf,
      listSessions,
      getSession,
      sessionSummary,
      integritySnapshot,
      listHistory,
      itemChain,
      derivedItems,
      listAssets
    })
  })

export const layer = (config: TenantReaderConfig): Layer.Layer<TenantReader, never, PgClient> =>
  Layer.scoped(TenantReader, make(config))
