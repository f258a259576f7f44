/**
 * ProfileStore on PostgreSQL (tables `profile_fields`, `field_definitions`).
 * applyOps, in one transaction (the caller's unit of work when there is one): one read of the
 * batch's stored ids, active rows and open cases, the shared pure `planProfileOps` decides
 * last-writer-wins and case closures, then one statement per kind of change for the whole batch.
 * writeFields does the same under the customers' advisory locks (writers outside the stream).
 */
import { Effect, Layer } from "effect"
import type { FieldDefinition, ScenarioFieldRequirement } from "../../../schemas"
import {
  customerKey,
  type FieldWrite,
  type ProfileAsset,
  type ProfileField,
  type ProfileOp
} from "../../domain/model"
import {
  fieldKey,
  latestSent,
  lookupKeys,
  planProfileOps,
  type RowRef,
  rowKey
} from "../../domain/fieldWritePlan"
import { lastPerKey } from "../../domain/definitions"
import { lastRequirementPerKey } from "../../domain/requirements"
import {
  type ChangedItem,
  compareChangedItems,
  type CustomerId,
  type CustomerProfile,
  type DeletedItem,
  type DeleteRequest,
  ProfileItemRefused,
  type ProfileFilter,
  ProfileStore,
  ProfileStoreError,
  type Tombstone
} from "../../ports/ProfileStore"

interface TombstoneRow extends Omit<Tombstone, "deleted_at"> {
  readonly deleted_at: Date
}

interface DeletedRow extends Omit<DeletedItem, "deleted_at"> {
  readonly deleted_at: Date
}
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

/** `step_id` '' stands for every step (a key column cannot be NULL); the stored JSON keeps it absent. */
const UPSERT_REQUIREMENTS = `
INSERT INTO scenario_requirements AS r (tenant_id, agent_id, scenario_id, step_id, field_name, requirement, version)
SELECT d ->> 'tenant_id', d ->> 'agent_id', d ->> 'scenario_id', coalesce(d ->> 'step_id', ''), d ->> 'field_name',
  d - 'version', coalesce((d ->> 'version')::int, 1)
FROM jsonb_array_elements($1::jsonb) AS input(d)
ON CONFLICT (tenant_id, agent_id, scenario_id, step_id, field_name) DO UPDATE
  SET requirement = excluded.requirement, version = r.version + 1, updated_at = now()
  WHERE r.requirement IS DISTINCT FROM excluded.requirement
RETURNING 1`

const LOAD_REQUIREMENTS = `
SELECT requirement || jsonb_build_object('version', version) AS requirement FROM scenario_requirements
WHERE tenant_id = $1 AND agent_id = $2
ORDER BY scenario_id COLLATE "C", step_id COLLATE "C", field_name COLLATE "C"`

const LOAD_DEFINITIONS = `
SELECT definition || jsonb_build_object('version', version) AS definition FROM field_definitions
WHERE tenant_id = $1 AND agent_id = $2 ORDER BY name COLLATE "C"`

/** A customer's loaded rows (active, recent superseded, expired CASE) as the port's profile. */
const profileOf = (rows: ReadonlyArray<ProfileField>): CustomerProfile => {
  const expiredByName = new Map<string, Array<ProfileField>>()
  for (const row of rows) {
    if (row.status !== "expired") continue
    const list = expiredByName.get(row.name)
    if (list === undefined) expiredByName.set(row.name, [row])
    else list.push(row)
  }
  return {
    active: rows.filter((row) => row.status === "active"),
    history: rows.filter((row) => row.status === "superseded"),
    expired: [...expiredByName.values()].flatMap((list) => latestSent(list) ?? [])
  }
}

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

  /** Reads what the ops touch, plans them (`planProfileOps`), then one statement per kind of change. */
  const applyPlan = Effect.fn("PgProfileStore.applyPlan")(function* (ops: ReadonlyArray<ProfileOp>) {
    const { rows, fields, cases } = lookupKeys(ops)
    const stored = yield* sql("applyOps.read")<Sql.FieldRow & { readonly lookup: number }>(
      Sql.SELECT_STORED,
      [
        rows.map((row) => row.tenant_id),
        rows.map((row) => row.id),
        fields.map((write) => write.tenant_id),
        fields.map((write) => write.customer_id),
        fields.map((write) => write.name),
        cases.map((closure) => closure.tenant_id),
        cases.map((closure) => closure.customer_id),
        cases.map((closure) => closure.case_id)
      ]
    )
    const ids = new Set<string>()
    const active = new Map<string, ProfileField>()
    const inCase = new Map<string, Array<ProfileField>>()
    const expired = new Map<string, Array<ProfileField>>()
    const append = (map: Map<string, Array<ProfileField>>, key: string, field: ProfileField) => {
      const list = map.get(key)
      if (list === undefined) map.set(key, [field])
      else list.push(field)
    }
    for (const { lookup, ...row } of stored.rows) {
      switch (lookup) {
        case 1:
          ids.add(rowKey(row.tenant_id, row.id))
          break
        case 2:
          active.set(fieldKey(row.tenant_id, row.customer_id, row.name), Sql.fromRow(row))
          break
        case 3: {
          // an active row of a closed case is the field's active row too
          const field = Sql.fromRow(row)
          active.set(fieldKey(row.tenant_id, row.customer_id, row.name), field)
          append(inCase, fieldKey(row.tenant_id, row.customer_id, row.case_id ?? ""), field)
          break
        }
        default:
          append(expired, fieldKey(row.tenant_id, row.customer_id, row.name), Sql.fromRow(row))
      }
    }
    const plan = planProfileOps(ops, {
      exists: (tenantId, id) => ids.has(rowKey(tenantId, id)),
      activeOf: (tenantId, customerId, name) => active.get(fieldKey(tenantId, customerId, name)),
      activeInCase: (tenantId, customerId, caseId) =>
        inCase.get(fieldKey(tenantId, customerId, caseId)) ?? [],
      expiredOf: (tenantId, customerId, name) =>
        latestSent(expired.get(fieldKey(tenantId, customerId, name)) ?? [])
    })
    const tenants = (refs: ReadonlyArray<RowRef>) => refs.map((ref) => ref.tenant_id)
    const idsOf = (refs: ReadonlyArray<RowRef>) => refs.map((ref) => ref.id)
    if (plan.confirmed.length > 0) {
      yield* sql("applyOps.confirm")(Sql.CONFIRM, [
        tenants(plan.confirmed),
        idsOf(plan.confirmed),
        plan.confirmed.map((row) => row.confirmed_at),
        plan.confirmed.map((row) => row.confirmed_by)
      ])
    }
    // Expire and supersede before inserting: the partial unique index admits one active row per
    // field at any moment.
    if (plan.expired.length > 0) {
      yield* sql("applyOps.expire")(Sql.EXPIRE_ROWS, [tenants(plan.expired), idsOf(plan.expired)])
    }
    if (plan.superseded.length > 0) {
      yield* sql("applyOps.supersede")(Sql.SUPERSEDE, [
        tenants(plan.superseded),
        idsOf(plan.superseded),
        plan.superseded.map((row) => row.superseded_by_id)
      ])
    }
    if (plan.inserts.length > 0) {
      yield* sql("applyOps.insert")(Sql.INSERT, [JSON.stringify(plan.inserts)])
    }
  })

  const writeFields = (rows: ReadonlyArray<FieldWrite>) =>
    rows.length === 0
      ? Effect.void
      : inTransaction(
          "writeFields",
          Effect.zipRight(lockCustomers(rows), applyPlan([{ kind: "write", rows }]))
        )

  const expireCaseLocked = (tenantId: string, customerId: string, caseId: string) =>
    Effect.map(sql("expireCase")<{ id: string }>(Sql.EXPIRE_CASE, [tenantId, customerId, caseId]), (result) =>
      result.rows.map((row) => row.id).sort(compareText)
    )

  const applyOps = (ops: ReadonlyArray<ProfileOp>) =>
    ops.length === 0 ? Effect.void : inTransaction("applyOps", applyPlan(ops))

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
    return profileOf(result.rows.map(Sql.fromRow))
  })

  const loadCustomers = Effect.fn("PgProfileStore.loadCustomers")(function* (
    customers: ReadonlyArray<CustomerId>,
    historyLimit: number
  ) {
    if (customers.length === 0) return []
    const result = yield* sql("loadCustomers")<Sql.FieldRow>(Sql.LOAD_CUSTOMERS, [
      customers.map((c) => c.tenant_id),
      customers.map((c) => c.customer_id),
      historyLimit
    ])
    // The rows come in LIST_ORDER: each customer's rows keep the order `loadCustomer` gives them.
    const rowsOf = new Map<string, Array<ProfileField>>()
    for (const row of result.rows) {
      const key = customerKey(row.tenant_id, row.customer_id)
      const list = rowsOf.get(key)
      if (list === undefined) rowsOf.set(key, [Sql.fromRow(row)])
      else list.push(Sql.fromRow(row))
    }
    return customers.map((c) => profileOf(rowsOf.get(customerKey(c.tenant_id, c.customer_id)) ?? []))
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
    const result = yield* sql("expireStale")<ChangedItem>(Sql.EXPIRE_STALE, [now.toISOString()])
    return [...result.rows].sort(compareChangedItems)
  })

  const markOrphans = Effect.fn("PgProfileStore.markOrphans")(function* () {
    const result = yield* sql("markOrphans")<ChangedItem>(Sql.MARK_ORPHANS, [])
    return [...result.rows].sort(compareChangedItems)
  })

  const derivationDepths = Effect.fn("PgProfileStore.derivationDepths")(function* (tenantId?: string) {
    const result = yield* sql("derivationDepths")<{ depth: number; items: number }>(Sql.DERIVATION_DEPTHS, [
      tenantId ?? null
    ])
    return new Map(result.rows.map((row) => [Number(row.depth), row.items]))
  })

  const derivationChain = Effect.fn("PgProfileStore.derivationChain")(function* (
    tenantId: string,
    id: string
  ) {
    const result = yield* sql("derivationChain")<Sql.FieldRow>(Sql.DERIVATION_CHAIN, [tenantId, id])
    return result.rows.map(Sql.fromRow)
  })

  const derivedItems = Effect.fn("PgProfileStore.derivedItems")(function* (tenantId: string, id: string) {
    const result = yield* sql("derivedItems")<Sql.FieldRow>(Sql.DERIVED_ITEMS, [tenantId, id])
    return result.rows.map(Sql.fromRow)
  })

  const tombstoneOf = (row: TombstoneRow): Tombstone => ({ ...row, deleted_at: row.deleted_at.toISOString() })

  /** One transaction: lock the item, find what derives from it, mark them all (or refuse). */
  const deleteItem = Effect.fn("PgProfileStore.deleteItem")(function* (
    tenantId: string,
    id: string,
    request: DeleteRequest
  ) {
    const outcome = yield* inTransaction(
      "deleteItem",
      Effect.gen(function* () {
        const found = yield* sql("deleteItem.item")<{ status: string }>(Sql.ITEM_STATUS, [tenantId, id])
        const status = found.rows[0]?.status
        if (status === undefined) return { kind: "not_found" } as const
        if (status === "deleted") return { kind: "deleted", tombstones: [] } as const
        const dependents = (yield* sql("deleteItem.dependents")<{ id: string }>(Sql.DEPENDENTS, [
          tenantId,
          id
        ])).rows.map((row) => row.id)
        if (dependents.length > 0 && !request.cascade)
          return { kind: "has_derived_items", dependents } as const
        const marked = yield* sql("deleteItem.tombstone")<DeletedRow>(Sql.TOMBSTONE, [
          tenantId,
          [id, ...dependents],
          request.at.toISOString(),
          request.by,
          request.reason,
          id
        ])
        const deleted = marked.rows.map(
          (row): DeletedItem => ({ ...row, deleted_at: row.deleted_at.toISOString() })
        )
        return { kind: "deleted", tombstones: deleted } as const
      })
    )
    if (outcome.kind === "not_found") return yield* new ProfileItemRefused({ id, reason: "not_found" })
    if (outcome.kind === "has_derived_items")
      return yield* new ProfileItemRefused({
        id,
        reason: "has_derived_items",
        dependents: outcome.dependents
      })
    // the requested item first, then what its deletion cascaded to
    return [...outcome.tombstones].sort(
      (a, b) =>
        Number(a.cascade_of !== null) - Number(b.cascade_of !== null) || compareText(a.item_id, b.item_id)
    )
  })

  const writeAssets = Effect.fn("PgProfileStore.writeAssets")(function* (
    assets: ReadonlyArray<ProfileAsset>
  ) {
    if (assets.length === 0) return
    yield* sql("writeAssets")(Sql.INSERT_ASSETS, [JSON.stringify(assets)])
  })

  const listAssets = Effect.fn("PgProfileStore.listAssets")(function* (filter: {
    readonly tenantId?: string
    readonly customerId?: string
  }) {
    const result = yield* sql("listAssets")<ProfileAsset>(Sql.LIST_ASSETS, [
      filter.tenantId ?? null,
      filter.customerId ?? null
    ])
    return result.rows
  })

  const tombstones = Effect.fn("PgProfileStore.tombstones")(function* (tenantId: string) {
    return (yield* sql("tombstones")<TombstoneRow>(Sql.TOMBSTONES, [tenantId])).rows.map(tombstoneOf)
  })

  const list = Effect.fn("PgProfileStore.list")(function* (filter: ProfileFilter) {
    const result = yield* sql("list")<Sql.FieldRow>(Sql.LIST, [
      filter.tenantId ?? null,
      filter.customerId ?? null,
      filter.includeHistory === true
    ])
    return result.rows.map(Sql.fromRow)
  })

  const fieldHistory = Effect.fn("PgProfileStore.fieldHistory")(function* (
    tenantId: string,
    customerId: string,
    name: string
  ) {
    const result = yield* sql("fieldHistory")<Sql.FieldRow>(Sql.FIELD_HISTORY, [tenantId, customerId, name])
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

  const upsertRequirements = Effect.fn("PgProfileStore.upsertRequirements")(function* (
    requirements: ReadonlyArray<ScenarioFieldRequirement>
  ) {
    if (requirements.length === 0) return 0
    const result = yield* sql("upsertRequirements")(UPSERT_REQUIREMENTS, [
      JSON.stringify(lastRequirementPerKey(requirements))
    ])
    return result.rowCount ?? 0
  })

  const loadRequirements = Effect.fn("PgProfileStore.loadRequirements")(function* (
    tenantId: string,
    agentId: string
  ) {
    const result = yield* sql("loadRequirements")<{ requirement: ScenarioFieldRequirement }>(
      LOAD_REQUIREMENTS,
      [tenantId, agentId]
    )
    return result.rows.map((row) => row.requirement)
  })

  return ProfileStore.of({
    loadCustomer,
    loadCustomers,
    writeFields,
    applyOps,
    expireCase,
    expireStale,
    markOrphans,
    derivationDepths,
    derivationChain,
    derivedItems,
    deleteItem,
    tombstones,
    writeAssets,
    listAssets,
    fieldHistory,
    list,
    upsertDefinitions,
    loadDefinitions,
    upsertRequirements,
    loadRequirements
  })
})

export const layer: Layer.Layer<ProfileStore, never, PgClient> = Layer.effect(ProfileStore, make)
