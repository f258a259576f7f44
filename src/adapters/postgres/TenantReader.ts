/**
 * The tenant-scoped read path (DESIGN 3.7) for tenant-facing callers such as the admin API. Each
 * read runs in its own transaction as the `turnvault_tenant` role with `turnvault.tenant_id` set, so
 * row-level security admits only that tenant's rows even if a query forgets its tenant filter.
 */
import { Context, Data, Effect, Layer } from "effect"
import type { TurnRecord } from "../../../schemas"
import type { ProfileField } from "../../domain/model"
import { PgClient, type PgError } from "./PgClient"
import * as Sql from "./profileSql"

export class TenantReadError extends Data.TaggedError("TenantReadError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

export const TENANT_ROLE = "turnvault_tenant"

export interface TenantReaderService {
  /** Runs `effect` (whose PgClient queries then see one tenant only) in a fresh tenant-scoped transaction. */
  readonly withTenant: <A, E, R>(
    tenantId: string,
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | TenantReadError, R>
  /** The customer's rows, history included. The query has no tenant filter: RLS provides it. */
  readonly listProfile: (
    tenantId: string,
    customerId: string
  ) => Effect.Effect<ReadonlyArray<ProfileField>, TenantReadError>
  readonly listTurnRecords: (
    tenantId: string,
    sessionId: string
  ) => Effect.Effect<ReadonlyArray<TurnRecord>, TenantReadError>
}

export class TenantReader extends Context.Tag("turnvault/TenantReader")<
  TenantReader,
  TenantReaderService
>() {}

export const make = Effect.map(PgClient, (pg) => {
  const read =
    (operation: string) =>
    <R extends object>(text: string, params: ReadonlyArray<unknown>) =>
      Effect.mapError(
        pg.query<R>(text, params),
        (error: PgError) => new TenantReadError({ operation, cause: error.cause })
      )

  const withTenant = <A, E, R>(tenantId: string, effect: Effect.Effect<A, E, R>) =>
    pg.transactionAs(
      (error) => new TenantReadError({ operation: `withTenant.${error.operation}`, cause: error.cause }),
      { fresh: true }
    )(
      read("withTenant")(`SELECT set_config('turnvault.tenant_id', $1, true)`, [tenantId]).pipe(
        Effect.zipRight(read("withTenant")(`SET LOCAL ROLE ${TENANT_ROLE}`, [])),
        Effect.zipRight(effect)
      )
    )

  const listProfile = (tenantId: string, customerId: string) =>
    withTenant(
      tenantId,
      read("listProfile")<Sql.FieldRow>(
        `SELECT ${Sql.COLUMNS} FROM profile_fields WHERE customer_id = $1 ORDER BY ${Sql.LIST_ORDER}`,
        [customerId]
      ).pipe(Effect.map((result) => result.rows.map(Sql.fromRow)))
    )

  const listTurnRecords = (tenantId: string, sessionId: string) =>
    withTenant(
      tenantId,
      read("listTurnRecords")<{ record: TurnRecord }>(
        'SELECT record FROM turn_records WHERE session_id = $1 ORDER BY turn_number, turn_id COLLATE "C"',
        [sessionId]
      ).pipe(Effect.map((result) => result.rows.map((row) => row.record)))
    )

  return TenantReader.of({ withTenant, listProfile, listTurnRecords })
})

export const layer: Layer.Layer<TenantReader, never, PgClient> = Layer.effect(TenantReader, make)
