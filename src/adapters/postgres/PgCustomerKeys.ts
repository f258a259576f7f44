/**
 * CustomerKeys on PostgreSQL (tables `customer_keys`, `erasure_receipts`; migration 0019). Keys
 * are sealed and opened here with the key-encryption key, which never reaches the database. A
 * missing live key is made in the statement that reads the live ones (`INSERT ... ON CONFLICT DO
 * NOTHING` on the one-live-version index); one that another writer made at the same moment is read
 * again, so two writers of one customer's key agree on the one that went in.
 */
import { Effect, Layer } from "effect"
import { type ErasureReceipt, nextReceipt } from "../../domain/erasure"
import { newDataKey, type SecretKey, unwrapKey, wrapKey } from "../../domain/envelope"
import {
  type CustomerKey,
  CustomerKeys,
  CustomerKeysError,
  type CustomerRef,
  customerKeyOf,
  versionKeyOf
} from "../../ports/CustomerKeys"
import { PgClient, storeQuery } from "./PgClient"

const LIVE = `
SELECT k.tenant_id, k.customer_id, k.version, k.wrapped
FROM unnest($1::text[], $2::text[]) AS w(tenant_id, customer_id)
JOIN customer_keys k ON k.tenant_id = w.tenant_id AND k.customer_id = w.customer_id
WHERE k.destroyed_at IS NULL`

/**
 * One round trip: the live keys of the customers asked for, and for those that have none, the
 * candidate key the caller wrapped for each, inserted as the next version. The outer SELECT sees
 * the rows as they were before the insert, `made` the ones it put in; a customer whose key another
 * writer made at the same moment is in neither, and is read again.
 */
const LIVE_OR_MAKE = `
WITH wanted AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) AS w(tenant_id, customer_id, wrapped)
), made AS (
  INSERT INTO customer_keys (tenant_id, customer_id, version, wrapped)
  SELECT w.tenant_id, w.customer_id,
    coalesce((SELECT max(k.version) FROM customer_keys k
              WHERE k.tenant_id = w.tenant_id AND k.customer_id = w.customer_id), 0) + 1,
    w.wrapped
  FROM wanted w
  WHERE NOT EXISTS (SELECT 1 FROM customer_keys k
                    WHERE k.tenant_id = w.tenant_id AND k.customer_id = w.customer_id AND k.destroyed_at IS NULL)
  ON CONFLICT (tenant_id, customer_id) WHERE destroyed_at IS NULL DO NOTHING
  RETURNING tenant_id, customer_id, version, wrapped
)
SELECT k.tenant_id, k.customer_id, k.version, k.wrapped
FROM wanted w JOIN customer_keys k ON k.tenant_id = w.tenant_id AND k.customer_id = w.customer_id
WHERE k.destroyed_at IS NULL
UNION ALL
SELECT tenant_id, customer_id, version, wrapped FROM made`

const FIND = `
SELECT k.tenant_id, k.customer_id, k.version, k.wrapped
FROM unnest($1::text[], $2::text[], $3::int[]) AS w(tenant_id, customer_id, version)
JOIN customer_keys k ON k.tenant_id = w.tenant_id AND k.customer_id = w.customer_id AND k.version = w.version
WHERE k.wrapped IS NOT NULL`

const DESTROY = `
UPDATE customer_keys SET wrapped = NULL, destroyed_at = now()
WHERE tenant_id = $1 AND customer_id = $2 AND destroyed_at IS NULL
RETURNING version`

const RECEIPT_COLUMNS =
  "tenant_id, seq, customer_id, erased_at, erased_by, reason, key_versions, prev_hash, hash"

const LAST_RECEIPT = `
SELECT ${RECEIPT_COLUMNS} FROM erasure_receipts WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1 FOR UPDATE`

const APPEND_RECEIPT = `
INSERT INTO erasure_receipts (${RECEIPT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

interface KeyRow {
  readonly tenant_id: string
  readonly customer_id: string
  readonly version: number
  readonly wrapped: Buffer
}

const distinct = (customers: ReadonlyArray<CustomerRef>) => [
  ...new Map(customers.map((c) => [customerKeyOf(c), c])).values()
]

export const make = (kek: SecretKey | null) =>
  Effect.gen(function* () {
    const pg = yield* PgClient
    const sql = storeQuery(pg, (operation, cause) => new CustomerKeysError({ operation, cause }))
    const needKek = (): SecretKey => {
      if (kek === null) throw new Error("sealing needs TURNVAULT_KEK")
      return kek
    }
    const opened = (rows: ReadonlyArray<KeyRow>) =>
      rows.flatMap((row) => {
        const key = unwrapKey(needKek(), row.tenant_id, row.customer_id, row.wrapped)
        return key === null ? [] : [{ row, key }]
      })
    const columns = (customers: ReadonlyArray<CustomerRef>) => [
      customers.map((c) => c.tenant_id),
      customers.map((c) => c.customer_id)
    ]

    const live = Effect.fn("PgCustomerKeys.live")(function* (customers: ReadonlyArray<CustomerRef>) {
      const wanted = distinct(customers)
      const out = new Map<string, CustomerKey>()
      if (wanted.length === 0) return out
      const read = (rows: ReadonlyArray<KeyRow>) => {
        for (const { row, key } of opened(rows)) out.set(customerKeyOf(row), { version: row.version, key })
      }
      read(
        (yield* sql("live")<KeyRow>(LIVE_OR_MAKE, [
          ...columns(wanted),
          wanted.map((c) => wrapKey(needKek(), c.tenant_id, c.customer_id, newDataKey()))
        ])).rows
      )
      const raced = wanted.filter((c) => !out.has(customerKeyOf(c)))
      if (raced.length > 0) read((yield* sql("live.reread")<KeyRow>(LIVE, columns(raced))).rows)
      return out
    })

    const find = Effect.fn("PgCustomerKeys.find")(function* (
      wanted: ReadonlyArray<CustomerRef & { readonly version: number }>
    ) {
      const out = new Map<string, Buffer>()
      if (wanted.length === 0 || kek === null) return out
      const rows = (yield* sql("find")<KeyRow>(FIND, [...columns(wanted), wanted.map((w) => w.version)])).rows
      for (const { row, key } of opened(rows)) out.set(versionKeyOf(row, row.version), key)
      return out
    })

    const erase = (request: Parameters<typeof nextReceipt>[1]) =>
      pg.transactionAs(
        (error) => new CustomerKeysError({ operation: `erase.${error.operation}`, cause: error.cause })
      )(
        Effect.gen(function* () {
          const destroyed = (yield* sql("erase.destroy")<{ version: number }>(DESTROY, [
            request.tenant_id,
            request.customer_id
          ])).rows.map((row) => row.version)
          const last = (yield* sql("erase.last")<ErasureReceipt>(LAST_RECEIPT, [request.tenant_id])).rows[0]
          const receipt = nextReceipt(last ?? null, request, destroyed)
          yield* sql("erase.receipt")(APPEND_RECEIPT, [
            receipt.tenant_id,
            receipt.seq,
            receipt.customer_id,
            receipt.erased_at,
            receipt.erased_by,
            receipt.reason,
            receipt.key_versions,
            receipt.prev_hash,
            receipt.hash
          ])
          return receipt
        })
      )

    const receipts = Effect.fn("PgCustomerKeys.receipts")(function* (tenantId?: string) {
      return (yield* sql("receipts")<ErasureReceipt>(
        `SELECT ${RECEIPT_COLUMNS} FROM erasure_receipts WHERE $1::text IS NULL OR tenant_id = $1
         ORDER BY tenant_id COLLATE "C", seq`,
        [tenantId ?? null]
      )).rows
    })

    /**
     * After the erasure commits, VACUUM takes the destroyed keys' old row versions off the table's
     * pages (an UPDATE leaves them behind until then). Best effort: a role that does not own the
     * table gets a warning from PostgreSQL, autovacuum does it later.
     */
    const eraseAndVacuum = (request: Parameters<typeof nextReceipt>[1]) =>
      Effect.tap(erase(request), () => Effect.ignore(pg.query("VACUUM customer_keys")))

    const receiptHeads = Effect.fn("PgCustomerKeys.receiptHeads")(function* (since: Date | null) {
      const rows = (yield* sql("receiptHeads")<{ tenant_id: string; receipts: number; receipt_head: string }>(
        `SELECT tenant_id, count(*)::int AS receipts, (array_agg(hash ORDER BY seq DESC))[1] AS receipt_head
         FROM erasure_receipts
         WHERE tenant_id IN (SELECT tenant_id FROM erasure_receipts WHERE $1::timestamptz IS NULL OR recorded_at >= $1)
         GROUP BY tenant_id`,
        [since]
      )).rows
      return rows.map((row) => ({ kind: "erasures" as const, ...row }))
    })

    return CustomerKeys.of({ live, find, erase: eraseAndVacuum, receipts, receiptHeads })
  })

export const layer = (kek: SecretKey | null): Layer.Layer<CustomerKeys, never, PgClient> =>
  Layer.effect(CustomerKeys, make(kek))
