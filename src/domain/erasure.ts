/**
 * Erasure receipts (DESIGN 8b, decision 0019): one per `turnvault erase`, hash-chained per tenant
 * like the turn records, so a receipt deleted, edited or inserted afterwards shows. A receipt says
 * who erased which customer, when, why, which data-key versions were destroyed and how many profile
 * rows were tombstoned; it holds no value of the customer's.
 */
import { hashCanonical } from "./hash"

export interface ErasureReceipt {
  readonly tenant_id: string
  /** 1, 2, 3, ... per tenant. */
  readonly seq: number
  readonly customer_id: string
  readonly erased_at: string
  readonly erased_by: string
  readonly reason: string
  /** The customer's data-key versions destroyed by this erasure (empty without TURNVAULT_KEK). */
  readonly key_versions: ReadonlyArray<number>
  readonly prev_hash: string | null
  readonly hash: string
}

export type ErasureRequest = Pick<
  ErasureReceipt,
  "tenant_id" | "customer_id" | "erased_at" | "erased_by" | "reason"
>

export const receiptHash = (receipt: Omit<ErasureReceipt, "hash">): string => {
  const { hash: _ignored, ...body } = receipt as ErasureReceipt
  return hashCanonical(body)
}

/** The next receipt of the tenant, chained to `previous` (its last one, or null). */
export const nextReceipt = (
  previous: ErasureReceipt | null,
  request: ErasureRequest,
  keyVersions: ReadonlyArray<number>
): ErasureReceipt => {
  const body = {
    ...request,
    seq: (previous?.seq ?? 0) + 1,
    key_versions: [...keyVersions].sort((a, b) => a - b),
    prev_hash: previous?.hash ?? null
  }
  return { ...body, hash: receiptHash(body) }
}

/** What does not hold in one tenant's receipts (in seq order): edits, gaps, broken links. */
export const receiptProblems = (receipts: ReadonlyArray<ErasureReceipt>): Array<string> => {
  const problems: Array<string> = []
  receipts.forEach((receipt, i) => {
    const where = `erasure receipt ${receipt.seq} (customer ${receipt.customer_id})`
    if (receipt.seq !== i + 1)
      problems.push(`${where}: found where seq ${i + 1} was expected; a receipt is missing`)
    if (receiptHash(receipt) !== receipt.hash)
      problems.push(`${where}: does not match its hash: it was changed`)
    if (receipt.prev_hash !== (receipts[i - 1]?.hash ?? null))
      problems.push(`${where}: prev_hash does not name the receipt before it`)
  })
  return problems
}
