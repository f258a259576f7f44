/**
 * In-memory CustomerKeys: data keys sealed under the key-encryption key like PostgreSQL's (so a
 * destroyed key is gone, not merely hidden), and the erasure receipts. Without a key-encryption
 * key nothing is sealed, and only erasures (their receipts) are kept.
 */
import { Clock, Effect, Layer } from "effect"
import { type ErasureReceipt, nextReceipt } from "../../domain/erasure"
import { newDataKey, type SecretKey, unwrapKey, wrapKey } from "../../domain/envelope"
import {
  type CustomerKey,
  CustomerKeys,
  type CustomerKeysService,
  customerKeyOf,
  versionKeyOf
} from "../../ports/CustomerKeys"

interface StoredKey {
  readonly version: number
  wrapped: Buffer | null
}

export const make = (kek: SecretKey | null): CustomerKeysService => {
  const keys = new Map<string, Array<StoredKey>>()
  const receipts = new Map<string, Array<ErasureReceipt>>()
  /** When each tenant last had a receipt written (the clock's milliseconds). */
  const writtenAt = new Map<string, number>()
  return {
    live: (customers) =>
      Effect.sync(() => {
        if (kek === null) throw new Error("sealing needs TURNVAULT_KEK")
        const out = new Map<string, CustomerKey>()
        for (const customer of customers) {
          const id = customerKeyOf(customer)
          if (out.has(id)) continue
          const versions = keys.get(id) ?? []
          let live = versions.find((k) => k.wrapped !== null)
          if (live === undefined) {
            const version = (versions.at(-1)?.version ?? 0) + 1
            live = {
              version,
              wrapped: wrapKey(kek, customer.tenant_id, customer.customer_id, newDataKey())
            }
            keys.set(id, [...versions, live])
          }
          const key = unwrapKey(kek, customer.tenant_id, customer.customer_id, live.wrapped!)
          if (key !== null) out.set(id, { version: live.version, key })
        }
        return out
      }),
    find: (wanted) =>
      Effect.sync(() => {
        const out = new Map<string, Buffer>()
        for (const w of wanted) {
          const stored = keys.get(customerKeyOf(w))?.find((k) => k.version === w.version)
          const key =
            stored?.wrapped == null || kek === null
              ? null
              : unwrapKey(kek, w.tenant_id, w.customer_id, stored.wrapped)
          if (key !== null) out.set(versionKeyOf(w, w.version), key)
        }
        return out
      }),
    erase: (request) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          writtenAt.set(request.tenant_id, now)
          const destroyed: Array<number> = []
          for (const stored of keys.get(customerKeyOf(request)) ?? [])
            if (stored.wrapped !== null) {
              stored.wrapped = null
              destroyed.push(stored.version)
            }
          const list = receipts.get(request.tenant_id) ?? []
          const receipt = nextReceipt(list.at(-1) ?? null, request, destroyed)
          receipts.set(request.tenant_id, [...list, receipt])
          return receipt
        })
      ),
    receiptHeads: (since) =>
      Effect.sync(() =>
        [...receipts].flatMap(([tenant_id, list]) =>
          since !== null && (writtenAt.get(tenant_id) ?? 0) < since.getTime()
            ? []
            : [
                {
                  kind: "erasures" as const,
                  tenant_id,
                  receipts: list.length,
                  receipt_head: list.at(-1)!.hash
                }
              ]
        )
      ),
    receipts: (tenantId) =>
      Effect.sync(() =>
        tenantId === undefined
          ? [...receipts.keys()].sort().flatMap((tenant) => receipts.get(tenant)!)
          : (receipts.get(tenantId) ?? [])
      )
  }
}

export const layer = (kek: SecretKey | null): Layer.Layer<CustomerKeys> =>
  Layer.sync(CustomerKeys, () => make(kek))
