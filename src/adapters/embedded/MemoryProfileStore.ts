/** In-memory ProfileStore (customer context vault, DESIGN 3.6). Fresh state per layer build. */
import { Effect, Layer } from "effect"
import {
  customerKey,
  type FieldWrite,
  type ProfileAsset,
  type ProfileField,
  type ProfileOp,
  type ProfileStatus
} from "../../domain/model"
import {
  type DeleteRequest,
  type ChangedItem,
  compareChangedItems,
  ProfileItemRefused,
  type ProfileFilter,
  ProfileStore,
  type ProfileStoreService,
  type DeletedItem,
  type Tombstone
} from "../../ports/ProfileStore"
import { makeDefinitionsTable, makeRequirementsTable } from "./definitionsTable"
import {
  compareRecency,
  derivationDepths,
  derivedFrom,
  isTurnSource,
  fieldKey,
  latestSent,
  planProfileOps,
  type RowRef,
  rowKey
} from "../../domain/fieldWritePlan"

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** The stable order of `list`: tenant, customer, name, recency, id. */
const listOrder = (a: ProfileField, b: ProfileField) =>
  compareText(a.tenant_id, b.tenant_id) ||
  compareText(a.customer_id, b.customer_id) ||
  compareText(a.name, b.name) ||
  compareRecency(a, b) ||
  compareText(a.id, b.id)

export const make = (): ProfileStoreService => {
  const rows = new Map<string, ProfileField>()
  const active = new Map<string, string>()
  const byCustomer = new Map<string, Set<string>>()
  const definitions = makeDefinitionsTable()
  const requirements = makeRequirementsTable()

  const put = (row: ProfileField) => {
    const key = rowKey(row.tenant_id, row.id)
    rows.set(key, row)
    const field = fieldKey(row.tenant_id, row.customer_id, row.name)
    if (row.status === "active") active.set(field, key)
    else if (active.get(field) === key) active.delete(field)
    const customer = customerKey(row.tenant_id, row.customer_id)
    const keys = byCustomer.get(customer) ?? new Set<string>()
    byCustomer.set(customer, keys.add(key))
  }

  const setStatus = (row: ProfileField, status: ProfileStatus) => put({ ...row, status })

  /** A job's change: every hit gets `status`; answers what changed, in the port's order. */
  const changeAll = (
    hits: ReadonlyArray<ProfileField>,
    status: ProfileStatus
  ): ReadonlyArray<ChangedItem> => {
    for (const row of hits) setStatus(row, status)
    return hits
      .map(({ tenant_id, customer_id, id, name, source_item_id }) => ({
        tenant_id,
        customer_id,
        id,
        name,
        source_item_id
      }))
      .sort(compareChangedItems)
  }

  const customerRows = (tenantId: string, customerId: string): Array<ProfileField> =>
    [...(byCustomer.get(customerKey(tenantId, customerId)) ?? [])].flatMap((key) => rows.get(key) ?? [])

  const activeRows = () => [...active.values()].flatMap((key) => rows.get(key) ?? [])

  const activeInCase = (tenantId: string, customerId: string, caseId: string) =>
    customerRows(tenantId, customerId).filter(
      (row) => row.status === "active" && row.scope === "CASE" && row.case_id === caseId
    )

  const expiredCase = (row: ProfileField) => row.status === "expired" && row.scope === "CASE"

  const expiredOf = (tenantId: string, customerId: string, name: string) =>
    latestSent(customerRows(tenantId, customerId).filter((row) => row.name === name && expiredCase(row)))

  /** Applies `ops` as one plan, the same `planProfileOps` PostgreSQL applies. */
  const applyOps = (ops: ReadonlyArray<ProfileOp>) => {
    const plan = planProfileOps(ops, {
      exists: (tenantId, id) => rows.has(rowKey(tenantId, id)),
      activeOf: (tenantId, customerId, name) => {
        const key = active.get(fieldKey(tenantId, customerId, name))
        return key === undefined ? undefined : rows.get(key)
      },
      activeInCase,
      expiredOf
    })
    const update = (ref: RowRef, change: Partial<ProfileField>) => {
      const row = rows.get(rowKey(ref.tenant_id, ref.id))
      if (row) put({ ...row, ...change })
    }
    for (const c of plan.confirmed) update(c, { confirmed_at: c.confirmed_at, confirmed_by: c.confirmed_by })
    for (const e of plan.expired) update(e, { status: "expired" })
    for (const s of plan.superseded) update(s, { status: "superseded", superseded_by_id: s.superseded_by_id })
    for (const row of plan.inserts) put(row)
  }

  const writeFields = (batch: ReadonlyArray<FieldWrite>) => applyOps([{ kind: "write", rows: batch }])

  const expireCase = (tenantId: string, customerId: string, caseId: string) => {
    const hits = activeInCase(tenantId, customerId, caseId)
    for (const row of hits) setStatus(row, "expired")
    return hits.map((row) => row.id).sort(compareText)
  }

  const loadCustomer = (tenantId: string, customerId: string, historyLimit: number) => {
    const all = customerRows(tenantId, customerId).sort(listOrder)
    const history: Array<ProfileField> = []
    const superseded = all.filter((row) => row.status === "superseded")
    for (const name of new Set(superseded.map((row) => row.name))) {
      const ofName = superseded.filter((row) => row.name === name)
      history.push(...ofName.slice(Math.max(0, ofName.length - historyLimit)))
    }
    const expired: Array<ProfileField> = []
    for (const name of new Set(all.filter(expiredCase).map((row) => row.name))) {
      const latest = latestSent(all.filter((row) => row.name === name && expiredCase(row)))
      if (latest !== undefined) expired.push(latest)
    }
    return { active: all.filter((row) => row.status === "active"), history, expired }
  }

  const derivationChain = (tenantId: string, id: string): ReadonlyArray<ProfileField> => {
    const chain: Array<ProfileField> = []
    const visited = new Set<string>([id])
    let level = [id]
    while (level.length > 0) {
      const found = level.flatMap((itemId) => rows.get(rowKey(tenantId, itemId)) ?? [])
      chain.push(...found)
      const next = found.flatMap(derivedFrom).filter((source) => !visited.has(source))
      for (const source of next) visited.add(source)
      level = [...new Set(next)].sort(compareText)
    }
    return chain
  }

  const tombstones: Array<Tombstone> = []
  const assets = new Map<string, ProfileAsset>()

  /** The live (not deleted) items that name `id` in their derived_from, by id. */
  const derivedItems = (tenantId: string, id: string) =>
    [...rows.values()]
      .filter(
        (row) => row.tenant_id === tenantId && row.status !== "deleted" && derivedFrom(row).includes(id)
      )
      .sort((a, b) => compareText(a.id, b.id))

  const deleteItem = (tenantId: string, id: string, request: DeleteRequest) => {
    const row = rows.get(rowKey(tenantId, id))
    if (row === undefined) return Effect.fail(new ProfileItemRefused({ id, reason: "not_found" }))
    if (row.status === "deleted") return Effect.succeed([])
    // every live item derived from it, however indirectly
    const dependents: Array<string> = []
    const seen = new Set([id])
    for (let level = [id]; level.length > 0; ) {
      const next = level.flatMap((source) => derivedItems(tenantId, source).map((d) => d.id))
      level = [...new Set(next)].filter((d) => !seen.has(d)).sort(compareText)
      for (const d of level) seen.add(d)
      dependents.push(...level)
    }
    if (dependents.length > 0 && !request.cascade)
      return Effect.fail(
        new ProfileItemRefused({
          id,
          reason: "has_derived_items",
          dependents: [...dependents].sort(compareText)
        })
      )
    const deleted = [id, ...dependents].map((itemId): DeletedItem => {
      const target = rows.get(rowKey(tenantId, itemId))!
      setStatus(target, "deleted")
      const tombstone: Tombstone = {
        tenant_id: tenantId,
        item_id: itemId,
        deleted_at: request.at.toISOString(),
        deleted_by: request.by,
        reason: request.reason,
        cascade_of: itemId === id ? null : id
      }
      tombstones.push(tombstone)
      return {
        ...tombstone,
        customer_id: target.customer_id,
        name: target.name,
        source_item_id: target.source_item_id
      }
    })
    return Effect.succeed(deleted)
  }

  const list = (filter: ProfileFilter) => {
    const candidates =
      filter.tenantId !== undefined && filter.customerId !== undefined
        ? customerRows(filter.tenantId, filter.customerId)
        : [...rows.values()]
    return candidates
      .filter(
        (row) =>
          (filter.tenantId === undefined || row.tenant_id === filter.tenantId) &&
          (filter.customerId === undefined || row.customer_id === filter.customerId) &&
          (filter.includeHistory === true || row.status === "active")
      )
      .sort(listOrder)
  }

  return {
    loadCustomer: (tenantId, customerId, historyLimit) =>
      Effect.sync(() => loadCustomer(tenantId, customerId, historyLimit)),
    loadCustomers: (customers, historyLimit) =>
      Effect.sync(() => customers.map((c) => loadCustomer(c.tenant_id, c.customer_id, historyLimit))),
    writeFields: (batch) => Effect.sync(() => writeFields(batch)),
    applyOps: (ops) => Effect.sync(() => applyOps(ops)),
    expireCase: (tenantId, customerId, caseId) => Effect.sync(() => expireCase(tenantId, customerId, caseId)),
    expireStale: (now) =>
      Effect.sync(() => {
        const hits = activeRows().filter(
          (row) => row.expires_at !== null && Date.parse(row.expires_at) < now.getTime()
        )
        return changeAll(hits, "expired")
      }),
    markOrphans: () =>
      Effect.sync(() => {
        const hits = activeRows().filter((row) =>
          // a tombstoned source is gone too; a live asset is a source like a row
          derivedFrom(row).some((source) => {
            if (isTurnSource(source)) return false
            const key = rowKey(row.tenant_id, source)
            return (rows.get(key)?.status ?? assets.get(key)?.status ?? "deleted") === "deleted"
          })
        )
        return changeAll(hits, "orphaned")
      }),
    derivationDepths: (tenantId) =>
      Effect.sync(() =>
        derivationDepths(
          activeRows().filter((row) => tenantId === undefined || row.tenant_id === tenantId),
          (tenant, id) => rows.get(rowKey(tenant, id))
        )
      ),
    derivationChain: (tenantId, id) => Effect.sync(() => derivationChain(tenantId, id)),
    derivedItems: (tenantId, id) => Effect.sync(() => derivedItems(tenantId, id)),
    deleteItem: (tenantId, id, request) => Effect.suspend(() => deleteItem(tenantId, id, request)),
    tombstones: (tenantId) => Effect.sync(() => tombstones.filter((t) => t.tenant_id === tenantId)),
    writeAssets: (list) =>
      Effect.sync(() => {
        for (const asset of list) {
          const key = rowKey(asset.tenant_id, asset.id)
          if (!assets.has(key)) assets.set(key, asset)
        }
      }),
    listAssets: (filter) =>
      Effect.sync(() =>
        [...assets.values()]
          .filter(
            (a) =>
              (filter.tenantId === undefined || a.tenant_id === filter.tenantId) &&
              (filter.customerId === undefined || a.customer_id === filter.customerId)
          )
          .sort(
            (a, b) =>
              compareText(a.tenant_id, b.tenant_id) ||
              compareText(a.customer_id, b.customer_id) ||
              compareText(a.id, b.id)
          )
      ),
    fieldHistory: (tenantId, customerId, name) =>
      Effect.sync(() =>
        customerRows(tenantId, customerId)
          .filter((row) => row.name === name)
          .sort((a, b) => compareRecency(b, a) || compareText(a.id, b.id))
      ),
    list: (filter) => Effect.sync(() => list(filter)),
    upsertDefinitions: (defs) => Effect.sync(() => definitions.upsert(defs)),
    loadDefinitions: (tenantId, agentId) => Effect.sync(() => definitions.load(tenantId, agentId)),
    upsertRequirements: (list) => Effect.sync(() => requirements.upsert(list)),
    loadRequirements: (tenantId, agentId) => Effect.sync(() => requirements.load(tenantId, agentId))
  }
}

export const layer: Layer.Layer<ProfileStore> = Layer.sync(ProfileStore, make)
