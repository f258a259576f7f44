/**
 * ProfileStore on PostgreSQL (tables `profile_fields`, `field_definitions`).
 * writeFields, in one transaction (the caller's unit of work when there is one): take the batch's
 * customers' advisory locks (all at once, in one order), read their active rows and already stored
 * ids, let the shared pure `planFieldWrites` decide last-writer-wins, then one UPDATE and one
 * INSERT for the whole batch.
 */
import { Effect, Layer } from "effect"
import type { FieldDefinition } from "../../../schemas"
import { type FieldWrite, newRows, type ProfileField } from "../../domain/model"
import { fieldKey, planFieldWrites, rowKey } from "../../domain/fieldWritePlan"
import { lastPerKey } from "../../domain/definitions"
import {
  opCustomers,
  type ProfileOp,
  ProfileItemRefused,
  type ProfileFilter,
  ProfileStore,
  ProfileStoreError
} from "../../ports/ProfileStore"
import { PgClient, storeQuery } from "./PgClient"
import * as Sql from "./profileSql"

const UPSERT_DEFINITIONS = `
INSERT INTO field_definitions AS f (tenant_id, agent_id, name, definition, version)
SELECT d ->> 'tenant_id', d ->> 'agent_id', d ->> 'name', d - 'version', coalesce((d ->> 'version')::int, 1)
FROM jsonb_array_elements($1::jsonb) AS input(d)
ON CONFLICT (tenant_id, agent_id, name) DO UPDATE
  SET definition = excluded.definition, version = f.version + 1, updated_at = now()
  WHERE f.definition IS DISTINCT FROM excluded.definition
RETURNING 1`

const LOAD_DEFINITIONS = `
SELECT definition || jsonb_build_object('version', version) AS definition FROM field_definitions
WHERE tenant_id = $1 AND agent_id = $2 ORDER BY name COLLATE "C"`

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

export const make = Effect.gen(function* () {
  const pg = yield* PgClient
  const sql = storeQuery(pg, (operation, cause) => new ProfileStoreError({ operation, cause }))
  const inTransaction = <A>(operation: string, effect: Effect.Effect<A, ProfileStoreError>) =>
    pg.transactionAs(
      (error) => new ProfileStoreError({ operation: `${operation}.${error.operation}`, cause: error.cause })
    )(effect)

  /** Takes the customers' locks for the rest of the transaction, all at once, in one order. */
  const lockCustomers = (
    customers: ReadonlyArray<{ readonly tenant_id: string; readonly customer_id: string }>
  ) => sql("lockCustomers")(Sql.LOCK_FIELDS, [[...new Set(customers.map(Sql.lockKey))]])

  const applyPlan = Effect.fn("PgProfileStore.applyPlan")(function* (writes: ReadonlyArray<FieldWrite>) {
    // A confirmation names its field's active row, which the second look-up finds.
    const rows = newRows(writes)
    const fields = writes
    const stored = yield* sql("writeFields.read")<Sql.FieldRow>(Sql.SELECT_STORED, [
      rows.map((row) => row.tenant_id),
      rows.map((row) => row.id),
      fields.map((write) => write.tenant_id),
      fields.map((write) => write.customer_id),
      fields.map((write) => write.name)
    ])
    const ids = new Set(stored.rows.map((row) => rowKey(row.tenant_id, row.id)))
    const active = new Map<string, ProfileField>()
    for (const row of stored.rows) {
      if (row.status === "active")
        active.set(fieldKey(row.tenant_id, row.customer_id, row.name), Sql.fromRow(row))
    }
    const plan = planFieldWrites(writes, {
      exists: (tenantId, id) => ids.has(rowKey(tenantId, id)),
      activeOf: (tenantId, customerId, name) => active.get(fieldKey(tenantId, customerId, name))
    })
    if (plan.confirmed.length > 0) {
      yield* sql("writeFields.confirm")(Sql.CONFIRM, [
        plan.confirmed.map((row) => row.tenant_id),
        plan.confirmed.map((row) => row.id),
        plan.confirmed.map((row) => row.confirmed_at),
        plan.confirmed.map((row) => row.confirmed_by)
      ])
    }
    // Supersede first: the partial unique index admits one active row per field at any moment.
    if (plan.superseded.length > 0) {
      yield* sql("writeFields.supersede")(Sql.SUPERSEDE, [
        plan.superseded.map((row) => row.tenant_id),
        plan.superseded.map((row) => row.id),
        plan.superseded.map((row) => row.superseded_by_id)
      ])
    }
    if (plan.inserts.length > 0) {
      yield* sql("writeFields.insert")(Sql.INSERT, [JSON.stringify(plan.inserts)])
    }
  })

  const writeFields = (rows: ReadonlyArray<FieldWrite>) =>
    rows.length === 0
      ? Effect.void
      : inTransaction("writeFields", Effect.zipRight(lockCustomers(rows), applyPlan(rows)))

  const expireCaseLocked = (tenantId: string, customerId: string, caseId: string) =>
    Effect.map(sql("expireCase")<{ id: string }>(Sql.EXPIRE_CASE, [tenantId, customerId, caseId]), (result) =>
      result.rows.map((row) => row.id).sort(compareText)
    )

  const applyOps = (ops: ReadonlyArray<ProfileOp>) =>
    ops.length === 0
      ? Effect.void
      : inTransaction(
          "applyOps",
          Effect.gen(function* () {
            yield* lockCustomers(ops.flatMap(opCustomers))
            for (const op of ops) {
              if (op.kind === "write") {
                if (op.rows.length > 0) yield* applyPlan(op.rows)
              } else yield* expireCaseLocked(op.tenant_id, op.customer_id, op.case_id)
            }
          })
        )

  const loadCustomer = Effect.fn("PgProfileStore.loadCustomer")(function* (
    tenantId: string,
    customerId: string,
    historyLimit: number
  ) {
    const result = yield* sql("loadCustomer")<Sql.FieldRow>(Sql.LOAD_CUSTOMER, [
      tenantId,
      customerId,
      historyLimit
    ])
    const rows = result.rows.map(Sql.fromRow)
    return {
      active: rows.filter((row) => row.status === "active"),
      history: rows.filter((row) => row.status === "superseded")
    }
  })

  const expireCase = (tenantId: string, customerId: string, caseId: string) =>
    inTransaction(
      "expireCase",
      Effect.zipRight(
        lockCustomers([{ tenant_id: tenantId, customer_id: customerId }]),
        expireCaseLocked(tenantId, customerId, caseId)
      )
    )

  const expireStale = Effect.fn("PgProfileStore.expireStale")(function* (now: Date) {
    return (yield* sql("expireStale")(Sql.EXPIRE_STALE, [now.toISOString()])).rowCount ?? 0
  })

  const markOrphans = Effect.fn("PgProfileStore.markOrphans")(function* () {
    return (yield* sql("markOrphans")(Sql.MARK_ORPHANS, [])).rowCount ?? 0
  })

  const derivationChain = Effect.fn("PgProfileStore.derivationChain")(function* (
    tenantId: string,
    id: string
  ) {
    const result = yield* sql("derivationChain")<Sql.FieldRow>(Sql.DERIVATION_CHAIN, [tenantId, id])
    return result.rows.map(Sql.fromRow)
  })

  const deleteItem = Effect.fn("PgProfileStore.deleteItem")(function* (tenantId: string, id: string) {
    const result = yield* sql("deleteItem")<{ found: boolean; has_derived: boolean }>(Sql.DELETE_ITEM, [
      tenantId,
      id
    ])
    const outcome = result.rows[0]
    if (outcome?.found !== true) return yield* new ProfileItemRefused({ id, reason: "not_found" })
    if (outcome.has_derived) return yield* new ProfileItemRefused({ id, reason: "has_derived_items" })
  })

  const list = Effect.fn("PgProfileStore.list")(function* (filter: ProfileFilter) {
    const result = yield* sql("list")<Sql.FieldRow>(Sql.LIST, [
      filter.tenantId ?? null,
      filter.customerId ?? null,
      filter.includeHistory === true
    ])
    return result.rows.map(Sql.fromRow)
  })

  const upsertDefinitions = Effect.fn("PgProfileStore.upsertDefinitions")(function* (
    defs: ReadonlyArray<FieldDefinition>
  ) {
    if (defs.length === 0) return 0
    const result = yield* sql("upsertDefinitions")(UPSERT_DEFINITIONS, [JSON.stringify(lastPerKey(defs))])
    return result.rowCount ?? 0
  })

  const loadDefinitions = Effect.fn("PgProfileStore.loadDefinitions")(function* (
    tenantId: string,
    agentId: string
  ) {
    const result = yield* sql("loadDefinitions")<{ definition: FieldDefinition }>(LOAD_DEFINITIONS, [
      tenantId,
      agentId
    ])
    return result.rows.map((row) => row.definition)
  })

  return ProfileStore.of({
    loadCustomer,
    writeFields,
    applyOps,
    expireCase,
    expireStale,
    markOrphans,
    derivationChain,
    deleteItem,
    list,
    upsertDefinitions,
    loadDefinitions
  })
})

export const layer: Layer.Layer<ProfileStore, never, PgClient> = Layer.effect(ProfileStore, make)
