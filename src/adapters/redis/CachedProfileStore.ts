/**
 * ProfileStore decorator: read-through caching of a customer's profile (`profile:{tenant}:{customer}`,
 * one hash field per history limit) and of the field definitions and scenario requirements of
 * (tenant, agent) (`field_defs:{tenant}:{agent}`, fields `d` and `r`). Every write invalidates
 * before and after its commit. The background jobs (expireStale, markOrphans) do not know their
 * customers before they run: they invalidate after their commit, only the customers whose rows
 * they changed. A definitions change is also published so running instances drop their
 * in-process copies (DefinitionsChanges); so is a requirements change, which invalidates the same
 * entry.
 */
import { Effect } from "effect"
import type { FieldDefinition, ScenarioFieldRequirement } from "../../../schemas"
import {
  type ChangedItem,
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

/** A cached list of one agent's definitions or requirements (ids are checked: a corrupt entry is a miss). */
const decodeAgentList =
  <A extends DefinitionsKey>(tenantId: string, agentId: string) =>
  (text: string): ReadonlyArray<A> | undefined => {
    const value = parse(text)
    if (!Array.isArray(value)) return undefined
    const list = value as ReadonlyArray<A>
    return list.every((item) => item.tenant_id === tenantId && item.agent_id === agentId) ? list : undefined
  }

/** The distinct (tenant, agent) pairs of a list of definitions or requirements. */
const agentsOf = (items: ReadonlyArray<DefinitionsKey>): Array<DefinitionsKey> => [
  ...new Map(
    items.map((d) => [`${d.tenant_id}\u0000${d.agent_id}`, { tenant_id: d.tenant_id, agent_id: d.agent_id }])
  ).values()
]

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

export const make = Effect.gen(function* () {
  const store = yield* ProfileStore
  const cache = yield* RedisCache
  const changes = yield* DefinitionsChanges

  const customerKeys = (tenantId: string, customerId: string) => cache.keys("profile", tenantId, customerId)
  const definitionKeys = (key: DefinitionsKey) => cache.keys("definitions", key.tenant_id, key.agent_id)
  const everyProfile = cache.wholeNamespace("profile")

  /**
   * Runs a job, then invalidates the customers it changed. Their keys are known only from its
   * answer, so there is no "before" mark: a reader that loaded the old row before the commit
   * either fills before this invalidation (which then deletes the entry) or after it (refused: the
   * entry's version moved on). Until the invalidation lands (one round trip after the commit) a
   * cached entry may still show the row as active, as it showed it a moment before. A failed job
   * changed nothing (one statement), so it invalidates nothing.
   */
  const afterJob = <E>(job: Effect.Effect<ReadonlyArray<ChangedItem>, E>) =>
    Effect.tap(job, (changed) => {
      const targets = [
        ...new Map(
          changed.map((c) => [
            `${c.tenant_id}\u0000${c.customer_id}`,
            customerKeys(c.tenant_id, c.customer_id)
          ])
        ).values()
      ]
      // a bulk run can change many customers: a bounded number of keys per script call
      return Effect.forEach(chunks(targets, 500), (chunk) => cache.end(chunk, false), { discard: true })
    })

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
      decode: decodeAgentList<FieldDefinition>(tenantId, agentId),
      encode: (defs) => [["d", JSON.stringify(defs)]],
      load: store.loadDefinitions(tenantId, agentId)
    })

  const loadRequirements: ProfileStoreService["loadRequirements"] = (tenantId, agentId) =>
    cache.readThrough({
      keys: definitionKeys({ tenant_id: tenantId, agent_id: agentId }),
      field: "r",
      decode: decodeAgentList<ScenarioFieldRequirement>(tenantId, agentId),
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
    expireStale: (now) => afterJob(store.expireStale(now)),
    markOrphans: () => afterJob(store.markOrphans()),
    deleteItem: (tenantId, id, request) =>
      cache.guardedWrite([everyProfile], store.deleteItem(tenantId, id, request))
  })
})
