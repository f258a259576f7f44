/**
 * `turnvault erase --tenant T --customer C --by WHO [--reason WHY]`: a data subject's erasure
 * (GDPR art. 17) by crypto-shredding (decision 0019). In this order, each step safe to repeat:
 *
 * 1. the customer's data keys are destroyed and the tenant's next erasure receipt is appended, in
 *    one transaction: from then on no sealed value of the customer opens, wherever a copy is;
 * 2. every profile row of the customer is tombstoned (`items delete --cascade`, by WHO, reason
 *    "erasure N"), which evicts the Redis entries and drops the rows from running actors;
 * 3. the erasure is published on `turnvault.erasures` (no value in it), for downstream consumers.
 *
 * The append-only audit trail keeps its rows (turn records hold no values) and stays verifiable.
 */
import { Clock, Effect } from "effect"
import type { ErasureEvent } from "../../../schemas/Audit"
import type { AppConfig } from "../../config/AppConfig"
import type { DeletedItem } from "../../ports/ProfileStore"
import { CustomerKeys } from "../../ports/CustomerKeys"
import { ItemChanges } from "../../ports/ItemChanges"
import { deletedAsChanged, ProfileStore } from "../../ports/ProfileStore"
import { OutputSink } from "../../ports/OutputSink"
import { topicNames } from "../../../streams/topics"

export interface EraseRequest {
  readonly tenantId: string
  readonly customerId: string
  readonly by: string
  readonly reason: string
}

export const eraseCustomer = (config: AppConfig, request: EraseRequest) =>
  Effect.gen(function* () {
    const at = new Date(yield* Clock.currentTimeMillis)
    const receipt = yield* Effect.flatMap(CustomerKeys, (keys) =>
      keys.erase({
        tenant_id: request.tenantId,
        customer_id: request.customerId,
        erased_at: at.toISOString(),
        erased_by: request.by,
        reason: request.reason
      })
    )
    const store = yield* ProfileStore
    const rows = yield* store.list({
      tenantId: request.tenantId,
      customerId: request.customerId,
      includeHistory: true
    })
    const deleted: Array<DeletedItem> = []
    const done = new Set<string>()
    for (const row of rows) {
      if (row.status === "deleted" || done.has(row.id)) continue
      const marked = yield* store
        .deleteItem(request.tenantId, row.id, {
          by: request.by,
          reason: `erasure ${receipt.seq}: ${request.reason}`,
          at,
          cascade: true
        })
        // deleted meanwhile (a cascade of an earlier row): nothing left to do for it
        .pipe(Effect.catchTag("ProfileItemRefused", () => Effect.succeed([])))
      deleted.push(...marked)
      for (const item of marked) done.add(item.item_id)
    }
    yield* Effect.flatMap(ItemChanges, (changes) => changes.publish(deleted.map(deletedAsChanged)))
    const event: ErasureEvent = {
      event_type: "customer.erased",
      tenant_id: receipt.tenant_id,
      customer_id: receipt.customer_id,
      erased_at: receipt.erased_at,
      erased_by: receipt.erased_by,
      reason: receipt.reason,
      receipt_seq: receipt.seq,
      receipt_hash: receipt.hash,
      key_versions: receipt.key_versions,
      rows_tombstoned: deleted.length
    }
    yield* Effect.flatMap(OutputSink, (sink) =>
      sink.publish([
        {
          topic: topicNames(config.topicPrefix).erasures,
          key: JSON.stringify([receipt.tenant_id, receipt.customer_id]),
          value: JSON.stringify(event)
        }
      ])
    )
    return event
  })
