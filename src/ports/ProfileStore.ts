/**
 * Port: the customer context vault (DESIGN 3.6) and the field definitions it is validated against.
 * Adapters: embedded/MemoryProfileStore, postgres/PgProfileStore.
 */
import { Context, Data, type Effect } from "effect"
import type { FieldDefinition, ScenarioFieldRequirement } from "../../schemas"
import type { FieldWrite, ProfileAsset, ProfileField, ProfileOp } from "../domain/model"

export class ProfileStoreError extends Data.TaggedError("ProfileStoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

/** Refused: the item has derived items (DESIGN 3.6), named in `dependents`, or does not exist. */
export class ProfileItemRefused extends Data.TaggedError("ProfileItemRefused")<{
  readonly id: string
  readonly reason: "has_derived_items" | "not_found"
  readonly dependents?: ReadonlyArray<string>
}> {}

/** Who deletes an item, why and when; `cascade` also deletes every item derived from it. */
export interface DeleteRequest {
  readonly by: string
  readonly reason: string
  readonly at: Date
  readonly cascade: boolean
}

/** The record of one deleted item: its row stays, with status `deleted`. Append-only. */
export interface Tombstone {
  readonly tenant_id: string
  readonly item_id: string
  readonly deleted_at: string
  readonly deleted_by: string
  readonly reason: string
  /** The item whose deletion cascaded to this one; null for the item the request named. */
  readonly cascade_of: string | null
}

/** What `deleteItem` answers per row it deleted: the tombstone, and whose field the row held. */
export interface DeletedItem extends Tombstone {
  readonly customer_id: string
  readonly name: string
  readonly source_item_id: string
}

/** The deleted row as a changed item (what resident snapshots are told to forget). */
export const deletedAsChanged = (d: DeletedItem): ChangedItem => ({
  tenant_id: d.tenant_id,
  customer_id: d.customer_id,
  id: d.item_id,
  name: d.name,
  source_item_id: d.source_item_id
})

export interface CustomerProfile {
  /** The active rows, one per field name. */
  readonly active: ReadonlyArray<ProfileField>
  /** Up to `historyLimit` most recent superseded rows per field name, oldest first. */
  readonly history: ReadonlyArray<ProfileField>
  /**
   * Per field name, the expired CASE row sent last (`fieldWritePlan.latestSent`): an older value
   * arriving after that case closed does not become current (DESIGN 8).
   */
  readonly expired: ReadonlyArray<ProfileField>
}

export interface CustomerId {
  readonly tenant_id: string
  readonly customer_id: string
}

/**
 * One row a background job changed (expired or orphaned): enough to invalidate its customer's cache
 * entry and to drop the value from a resident snapshot only while it is still that row.
 */
export interface ChangedItem {
  readonly tenant_id: string
  readonly customer_id: string
  readonly id: string
  readonly name: string
  readonly source_item_id: string
}

/** The stable order of a job's answer: tenant, customer, id. */
export const compareChangedItems = (a: ChangedItem, b: ChangedItem) =>
  compareText(a.tenant_id, b.tenant_id) ||
  compareText(a.customer_id, b.customer_id) ||
  compareText(a.id, b.id)

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

export interface ProfileFilter {
  readonly tenantId?: string
  readonly customerId?: string
  readonly includeHistory?: boolean
}

export type { ProfileOp }

/** The customers an op touches (for cache invalidation). */
export const opCustomers = (
  op: ProfileOp
): ReadonlyArray<{ readonly tenant_id: string; readonly customer_id: string }> =>
  op.kind === "write" ? op.rows : [op]

export interface ProfileStoreService {
  readonly loadCustomer: (
    tenantId: string,
    customerId: string,
    historyLimit: number
  ) => Effect.Effect<CustomerProfile, ProfileStoreError>
  /** `loadCustomer` of every customer at once (one round trip on a server store): one answer each, in order. */
  readonly loadCustomers: (
    customers: ReadonlyArray<CustomerId>,
    historyLimit: number
  ) => Effect.Effect<ReadonlyArray<CustomerProfile>, ProfileStoreError>
  /**
   * Stores new rows (status `active` as written by the domain). Per (tenant, customer, name) the
   * active row is the one with the latest (`updated_at`, `source_item_id`): a newer row supersedes
   * the active one (`superseded_by_id` set); an older one is stored already superseded by it.
   * The current value's recency is its latest confirmation when a newer turn sent it again (a
   * `FieldConfirmation`, recorded on the active row it names and only while it is still active).
   * Rows are identified by `id`: writing an id that exists is a no-op (replay-safe).
   * Several writes for the same field may come in one call; they are applied in array order.
   */
  readonly writeFields: (rows: ReadonlyArray<FieldWrite>) => Effect.Effect<void, ProfileStoreError>
  /**
   * Applies a batch's profile changes as if `writeFields` and `expireCase` ran per op in order,
   * planned once for the whole batch (one read, one statement per kind of change). Takes no lock:
   * the stream's batches have one owner per customer (the by-customer partitioning, fenced by the
   * partition's generation in the same unit), so no other writer of these customers runs
   * meanwhile. Writers outside the stream use `writeFields` and `expireCase`, which lock.
   */
  readonly applyOps: (ops: ReadonlyArray<ProfileOp>) => Effect.Effect<void, ProfileStoreError>
  /** Marks the customer's active CASE fields of `caseId` as expired. Idempotent. Returns the expired ids. */
  readonly expireCase: (
    tenantId: string,
    customerId: string,
    caseId: string
  ) => Effect.Effect<ReadonlyArray<string>, ProfileStoreError>
  /**
   * Background job: active fields whose `expires_at` is before `now` become expired. Idempotent.
   * Returns the rows it expired (in `compareChangedItems` order; none on a second run).
   */
  readonly expireStale: (now: Date) => Effect.Effect<ReadonlyArray<ChangedItem>, ProfileStoreError>
  /**
   * Background job: active items whose `source_metadata.derived_from` is gone become orphaned
   * (a field or asset deleted or never stored; a `turn:<turn_id>` source never goes). Idempotent. Returns the rows it orphaned (in `compareChangedItems` order).
   */
  readonly markOrphans: () => Effect.Effect<ReadonlyArray<ChangedItem>, ProfileStoreError>
  /**
   * How deep the vault's derivations go: per chain depth, the number of active items that name
   * sources in `derived_from`. An item derived only from assets, turns or underived fields has
   * depth 1; one derived from a depth-1 item has depth 2, and so on (the longest path counts,
   * cycles cut). Of every tenant, or of `tenantId`. Read by the orphan job for
   * `turnvault_derivation_items`.
   */
  readonly derivationDepths: (
    tenantId?: string
  ) => Effect.Effect<ReadonlyMap<number, number>, ProfileStoreError>
  /** The item and every item it derives from (via `source_metadata.derived_from`), nearest first. */
  readonly derivationChain: (
    tenantId: string,
    id: string
  ) => Effect.Effect<ReadonlyArray<ProfileField>, ProfileStoreError>
  /** The items that name `id` in their `derived_from` (deleted ones left out), by id. */
  readonly derivedItems: (
    tenantId: string,
    id: string
  ) => Effect.Effect<ReadonlyArray<ProfileField>, ProfileStoreError>
  /**
   * Deletes an item as a tombstone: the row becomes `deleted` and a tombstone records who, when
   * and why; nothing is removed. Refused while other items derive from it (directly or not),
   * unless `cascade`, which deletes them too. An item already deleted gives no new tombstone.
   */
  readonly deleteItem: (
    tenantId: string,
    id: string,
    request: DeleteRequest
  ) => Effect.Effect<ReadonlyArray<DeletedItem>, ProfileStoreError | ProfileItemRefused>
  /** The tenant's tombstones, oldest first. */
  readonly tombstones: (tenantId: string) => Effect.Effect<ReadonlyArray<Tombstone>, ProfileStoreError>
  /**
   * Every stored row of one field of one customer, whatever its status, newest first (by
   * `updated_at`, then `source_item_id`): the field's whole history, each row with its lineage.
   */
  readonly fieldHistory: (
    tenantId: string,
    customerId: string,
    name: string
  ) => Effect.Effect<ReadonlyArray<ProfileField>, ProfileStoreError>
  /**
   * Stores assets (DESIGN 3.6), insert-only: an asset id the tenant has stored before is skipped
   * (an asset id names one content). Runs in the caller's unit of work like `applyOps`.
   */
  readonly writeAssets: (assets: ReadonlyArray<ProfileAsset>) => Effect.Effect<void, ProfileStoreError>
  /** The assets matching the filter, by tenant, customer and id. */
  readonly listAssets: (filter: {
    readonly tenantId?: string
    readonly customerId?: string
  }) => Effect.Effect<ReadonlyArray<ProfileAsset>, ProfileStoreError>
  /** Every row matching the filter (active only unless `includeHistory`), in a stable order. */
  readonly list: (filter: ProfileFilter) => Effect.Effect<ReadonlyArray<ProfileField>, ProfileStoreError>

  /** Upserts definitions; a changed definition gets `version` + 1. Returns how many changed. */
  readonly upsertDefinitions: (
    defs: ReadonlyArray<FieldDefinition>
  ) => Effect.Effect<number, ProfileStoreError>
  readonly loadDefinitions: (
    tenantId: string,
    agentId: string
  ) => Effect.Effect<ReadonlyArray<FieldDefinition>, ProfileStoreError>

  /**
   * Upserts scenario requirements, keyed by (tenant, agent, scenario, step or every step, field);
   * a changed one gets `version` + 1. Returns how many changed.
   */
  readonly upsertRequirements: (
    requirements: ReadonlyArray<ScenarioFieldRequirement>
  ) => Effect.Effect<number, ProfileStoreError>
  /** The agent's requirements, by scenario, step (every-step ones first) and field name. */
  readonly loadRequirements: (
    tenantId: string,
    agentId: string
  ) => Effect.Effect<ReadonlyArray<ScenarioFieldRequirement>, ProfileStoreError>
}

export class ProfileStore extends Context.Tag("turnvault/ProfileStore")<
  ProfileStore,
  ProfileStoreService
>() {}
