/**
 * ProfileStore decorator that seals the values of `is_pii` fields (rows marked `pii`) under their
 * customer's data key on the way in, and opens them on the way out (decision 0019). It is the
 * outermost layer: the store beneath and its Redis cache hold ciphertext only, and the pipeline,
 * exports and CLI above see values. A value whose key was destroyed (the customer erased) reads as
 * null. Keys are cached in memory, bounded and briefly: the cache is asked once per batch for
 * the customers it misses, never per field.
 */
import { Clock, Context, Effect, Layer } from "effect"
import { isSealed, openValue, sealValue, valueBinding } from "../domain/envelope"
import { type FieldWrite, isConfirmation, type ProfileField } from "../domain/model"
import { CustomerKeys, type CustomerKeysError, customerKeyOf, versionKeyOf } from "../ports/CustomerKeys"
import { DEFAULT_SEALING, makeKeyCache, type SealingOptions } from "./keyCache"
import {
  type CustomerProfile,
  ProfileStore,
  ProfileStoreError,
  type ProfileStoreService
} from "../ports/ProfileStore"
import type { ProfileOp } from "../domain/model"

const storeError = (error: CustomerKeysError) =>
  new ProfileStoreError({ operation: `keys.${error.operation}`, cause: error.cause })

export type { SealingOptions }

export const make = (options: SealingOptions = DEFAULT_SEALING) =>
  Effect.gen(function* () {
    const inner = yield* ProfileStore
    const keys = makeKeyCache(yield* CustomerKeys, options)

    const needsSealing = (write: FieldWrite): write is ProfileField =>
      !isConfirmation(write) && write.pii === true && !isSealed(write.value)

    const sealWrites = (writes: ReadonlyArray<FieldWrite>) =>
      Effect.gen(function* () {
        const pii = writes.filter(needsSealing)
        if (pii.length === 0) return writes
        const live = yield* Effect.mapError(keys.live(pii), storeError)
        return writes.map((write) => {
          if (!needsSealing(write)) return write
          const key = live.get(customerKeyOf(write))
          if (key === undefined) throw new Error(`no data key for a customer of tenant ${write.tenant_id}`)
          const binding = valueBinding(write.tenant_id, write.customer_id, write.name)
          return { ...write, value: sealValue(key.key, key.version, binding, write.value) }
        })
      })

    const openRows = (rows: ReadonlyArray<ProfileField>) =>
      Effect.gen(function* () {
        if (!rows.some((row) => isSealed(row.value))) return rows
        const now = yield* Clock.currentTimeMillis
        const wanted = rows.flatMap((row) =>
          isSealed(row.value) && keys.recall(row.value.d, now) === undefined
            ? [{ tenant_id: row.tenant_id, customer_id: row.customer_id, version: row.value.k }]
            : []
        )
        const found = wanted.length === 0 ? new Map() : yield* Effect.mapError(keys.find(wanted), storeError)
        return rows.map((row): ProfileField => {
          if (!isSealed(row.value)) return row
          let value = keys.recall(row.value.d, now)
          if (value === undefined) {
            const key = found.get(versionKeyOf(row, row.value.k))
            value =
              key === undefined
                ? undefined
                : openValue(key, valueBinding(row.tenant_id, row.customer_id, row.name), row.value)
            if (value !== undefined) keys.remember(row.value.d, value, now)
          }
          // a destroyed key (an erased customer) or a ciphertext moved off its row reads as null
          return { ...row, value: value ?? null, pii: true }
        })
      })

    const openProfile = (profile: CustomerProfile) =>
      Effect.gen(function* () {
        const all = yield* openRows([...profile.active, ...profile.history, ...profile.expired])
        const a = profile.active.length
        const h = profile.history.length
        return { active: all.slice(0, a), history: all.slice(a, a + h), expired: all.slice(a + h) }
      })

    const sealOps = (ops: ReadonlyArray<ProfileOp>) =>
      Effect.forEach(ops, (op) =>
        op.kind === "write"
          ? Effect.map(sealWrites(op.rows), (rows): ProfileOp => ({ ...op, rows }))
          : Effect.succeed(op)
      )

    return {
      ...inner,
      writeFields: (rows) => Effect.flatMap(sealWrites(rows), inner.writeFields),
      applyOps: (ops) => Effect.flatMap(sealOps(ops), inner.applyOps),
      loadCustomer: (tenantId, customerId, historyLimit) =>
        Effect.flatMap(inner.loadCustomer(tenantId, customerId, historyLimit), openProfile),
      loadCustomers: (customers, historyLimit) =>
        Effect.flatMap(inner.loadCustomers(customers, historyLimit), (profiles) =>
          Effect.forEach(profiles, openProfile)
        ),
      derivationChain: (tenantId, id) => Effect.flatMap(inner.derivationChain(tenantId, id), openRows),
      derivedItems: (tenantId, id) => Effect.flatMap(inner.derivedItems(tenantId, id), openRows),
      fieldHistory: (tenantId, customerId, name) =>
        Effect.flatMap(inner.fieldHistory(tenantId, customerId, name), openRows),
      list: (filter) => Effect.flatMap(inner.list(filter), openRows)
    } satisfies ProfileStoreService
  })

/**
 * The given stores (CustomerKeys among them) with their ProfileStore sealed: everything else of
 * the context passes through unchanged.
 */
export const withSealing =
  (options: SealingOptions = DEFAULT_SEALING) =>
  <ROut, E, R>(stores: Layer.Layer<ROut | ProfileStore | CustomerKeys, E, R>) =>
    Layer.effectContext(
      Effect.gen(function* () {
        const context = yield* Effect.context<ROut | ProfileStore | CustomerKeys>()
        const sealed = yield* Effect.provide(make(options), context)
        return Context.add(context, ProfileStore, sealed)
      })
    ).pipe(Layer.provide(stores))
