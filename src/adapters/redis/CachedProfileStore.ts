/**
 * ProfileStore decorator: read-through caching of a customer's profile (`profile:{tenant}:{customer}`,
 * one hash field per history limit) and of the field definitions and scenario requirements of
 * (tenant, agent) (`field_defs:{tenant}:{agent}`, fields `d` and `r`). Every write invalidates before and after its commit; jobs that
 * touch unknown customers invalidate the whole profile namespace. A definitions change is also
 * published so running instances drop their in-process copies (DefinitionsChanges); so is a
 * requirements change, which invalidates the same entry.
 */
import { Effect } from "effect"
import type { FieldDefinition, ScenarioFieldRequirement } from "../../../schemas"
import {
  type CustomerProfile,
  opCustomers,
  ProfileStore,
  type ProfileStoreError,
  type ProfileStoreService
} from "../../ports/ProfileStore"
import { DefinitionsChanges, type DefinitionsKey } from "../../ports/DefinitionsChanges"
import { RedisCache } from "./RedisCache"

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The cached profile, if it is one of this customer (ids are checked: a corrupt entry is a miss). */
const decodeProfile =
  (tenantId: string, customerId: string) =>
  (text: string): CustomerProfile | undefined => {
    const value = parse(text) as CustomerProfile | undefined
    if (typeof value !== "object" || value === null) return undefined
    // an entry cached before `expired` existed is a miss
    if (!Array.isArray(value.active) || !Array.isArray(value.history) || !Array.isArray(value.expired))
      return undefined
    const own = (row: { tenant_id: string; customer_id: string }) =>
      row.tenant_id === tenantId && row.customer_id === customerId
    return value.active.every(own) && value.history.every(own) && value.expired.every(own) ? value : undefined
  }

const decodeDefinitions =
  (tenantId: string, agentId: string) =>
  (text: string): ReadonlyArray<FieldDefinition> | undefined => {
    const value = parse(text)
    if (!Array.isArray(value)) return undefined
    const defs = value as ReadonlyArray<FieldDefinition>
    return defs.every((d) => d.tenant_id === tenantId && d.agent_id === agentId) ? defs : undefined
  }

const decodeRequirements =
  (tenantId: string, agentId: string) =>
  (text: string): ReadonlyArray<ScenarioFieldRequirement> | undefined => {
    const value = parse(text)
    if (!Array.isArray(value)) return undefined
    const list = value as ReadonlyArray<ScenarioFieldRequirement>
    return list.every((r) => r.tenant_id === tenantId && r.agent_id === agentId) ? list : undefined
  }

/** The distinct (tenant, agent) pairs of a list of definitions or requirements. */
const agentsOf = (items: ReadonlyArray<DefinitionsKey>): Array<DefinitionsKey> => [
  ...new Map(
    items.map((d) => [`${d.tenant_id}\u0000${d.agent_id}`, { tenant_id: d.tenant_id, agent_id: d.agent_id }])
  ).values()
]

export const make = Effect.gen(function* () {
  const store = yield* ProfileStore
  const cache = yield* RedisCache
  const changes = yield* DefinitionsChanges

  const customerKeys = (tenantId: string, customerId: string) => cache.keys("profile", tenantId, customerId)
  const definitionKeys = (key: DefinitionsKey) => cache.keys("definitions", key.tenant_id, key.agent_id)
  const everyProfile = cache.wholeNamespace("profile")

  const loadCustomer: ProfileStoreService["loadCustomer"] = (tenantId, customerId, historyLimit) =>
    cache.readThrough({
      keys: customerKeys(tenantId, customerId),
      field: `h${historyLimit}`,
      decode: decodeProfile(tenantId, customerId),
      encode: (profile) => [[`h${historyLimit}`, JSON.stringify(profile)]],
      load: store.loadCustomer(tenantId, customerId, historyLimit)
    })

  const loadCustomers: ProfileStoreService["loadCustomers"] = (customers, historyLimit) =>
    cache.readThroughMany(
      "profile",
      customers.map((c) => ({
        keys: customerKeys(c.tenant_id, c.customer_id),
        field: `h${historyLimit}`,
        decode: decodeProfile(c.tenant_id, c.customer_id),
        encode: (profile: CustomerProfile) => [[`h${historyLimit}`, JSON.stringify(profile)] as const]
      })),
      (indices) =>
        store.loadCustomers(
          indices.map((i) => customers[i]!),
          historyLimit
        )
    )

  const loadDefinitions: ProfileStoreService["loadDefinitions"] = (tenantId, agentId) =>
    cache.readThrough({
      keys: definitionKeys({ tenant_id: tenantId, agent_id: agentId }),
      field: "d",
      decode: decodeDefinitions(tenantId, agentId),
      encode: (defs) => [["d", JSON.stringify(defs)]],
      load: store.loadDefinitions(tenantId, agentId)
    })

  const loadRequirements: ProfileStoreService["loadRequirements"] = (tenantId, agentId) =>
    cache.readThrough({
      keys: definitionKeys({ tenant_id: tenantId, agent_id: agentId }),
      field: "r",
      decode: decodeRequirements(tenantId, agentId),
      encode: (list) => [["r", JSON.stringify(list)]],
      load: store.loadRequirements(tenantId, agentId)
    })

  /** A write of an agent's definitions or requirements: invalidate, then announce a real change. */
  const agentWrite = (agents: Array<DefinitionsKey>, write: Effect.Effect<number, ProfileStoreError>) => {
    const targets = agents.map(definitionKeys)
    return cache.guardedWrite(targets, write, (count, began) =>
      cache.end(targets, began).pipe(Effect.zipRight(count > 0 ? changes.publish(agents) : Effect.void))
    )
  }

  const upsertDefinitions: ProfileStoreService["upsertDefinitions"] = (defs) =>
    agentWrite(agentsOf(defs), store.upsertDefinitions(defs))

  const upsertRequirements: ProfileStoreService["upsertRequirements"] = (requirements) =>
    agentWrite(agentsOf(requirements), store.upsertRequirements(requirements))

  return ProfileStore.of({
    ...store,
    loadCustomer,
    loadCustomers,
    loadDefinitions,
    upsertDefinitions,
    loadRequirements,
    upsertRequirements,
    writeFields: (rows) =>
      cache.guardedWrite(
        rows.map((row) => customerKeys(row.tenant_id, row.customer_id)),
        store.writeFields(rows)
      ),
    applyOps: (ops) =>
      cache.guardedWrite(
        ops.flatMap(opCustomers).map((c) => customerKeys(c.tenant_id, c.customer_id)),
        store.applyOps(ops)
      ),
    expireCase: (tenantId, customerId, caseId) =>
      cache.guardedWrite(
        [customerKeys(tenantId, customerId)],
        store.expireCase(tenantId, customerId, caseId)
      ),
    expireStale: (now) => cache.guardedWrite([everyProfile], store.expireStale(now)),
    markOrphans: () => cache.guardedWrite([everyProfile], store.markOrphans()),
    deleteItem: (tenantId, id, request) =>
      cache.guardedWrite([everyProfile], store.deleteItem(tenantId, id, request))
  })
})
