/**
 * Port: the customers' data keys and the erasure receipts (DESIGN 8b, decision 0019). Each
 * (tenant, customer) has at most one live data key at a time, numbered from 1; erasing the customer
 * destroys every version and appends a chained receipt in the same step, and the next value
 * sealed for that customer gets a fresh key (the next version). Adapters keep keys sealed under
 * the key-encryption key (embedded/MemoryCustomerKeys, postgres/PgCustomerKeys: `customer_keys`,
 * `erasure_receipts`).
 */
import { Context, Data, type Effect } from "effect"
import type { ReceiptsHead } from "../domain/checkpoint"
import type { ErasureReceipt, ErasureRequest } from "../domain/erasure"

export class CustomerKeysError extends Data.TaggedError("CustomerKeysError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

export interface CustomerKey {
  readonly version: number
  readonly key: Buffer
}

export interface CustomerRef {
  readonly tenant_id: string
  readonly customer_id: string
}

/** `tenant \0 customer`: the key of the maps below. */
export const customerKeyOf = (c: CustomerRef) => `${c.tenant_id}\u0000${c.customer_id}`
/** `tenant \0 customer \0 version`. */
export const versionKeyOf = (c: CustomerRef, version: number) => `${customerKeyOf(c)}\u0000${version}`

export interface CustomerKeysService {
  /** Each customer's live data key, made now for those that have none (a fresh version after an erasure). */
  readonly live: (
    customers: ReadonlyArray<CustomerRef>
  ) => Effect.Effect<ReadonlyMap<string, CustomerKey>, CustomerKeysError>
  /** These versions' keys, by versionKeyOf; a destroyed (or unknown) one is absent. */
  readonly find: (
    wanted: ReadonlyArray<CustomerRef & { readonly version: number }>
  ) => Effect.Effect<ReadonlyMap<string, Buffer>, CustomerKeysError>
  /** Destroys every key version of the customer and appends the tenant's next receipt, at once. */
  readonly erase: (request: ErasureRequest) => Effect.Effect<ErasureReceipt, CustomerKeysError>
  /**
   * Where the receipts of each tenant with a receipt written at or after `since` (every tenant's
   * when null) end: what a signed checkpoint covers of them.
   */
  readonly receiptHeads: (since: Date | null) => Effect.Effect<ReadonlyArray<ReceiptsHead>, CustomerKeysError>
  /** The tenant's receipts (every tenant's when undefined), by tenant then seq. */
  readonly receipts: (tenantId?: string) => Effect.Effect<ReadonlyArray<ErasureReceipt>, CustomerKeysError>
}

export class CustomerKeys extends Context.Tag("turnvault/CustomerKeys")<
  CustomerKeys,
  CustomerKeysService
>() {}
