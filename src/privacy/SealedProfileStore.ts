/**
 * ProfileStore decorator that seals the values of `is_pii` fields (rows marked `pii`) under their
 * customer's data key on the way in, and opens them on the way out (decision 0019). It is the
 * outermost layer: the store beneath and its Redis cache hold ciphertext only, and the pipeline,
 * exports and CLI above see values. A value whose key was destroyed (the customer erased) reads as
 * null. Keys are cached in memory, bounded and briefly: the cache is asked once per batch for
 * the customers it misses, never per field.
 */
import { Context, Effect, Layer } from "effect"
import { isSealed, sealValue, valueBinding } from "../domain/envelope"
import { type FieldWrite, isConfirmation, type ProfileField } from "../domain/model"
import { CustomerKeys, type CustomerKeysError, customerKeyOf } from "../ports/CustomerKeys"
import { IngestionStore, IngestionStoreError, type IngestionStoreService } from "../ports/IngestionStore"
import { DEFAULT_SEALING, type SealingOptions } from "./keyCache"
import { makeOpener } from "./opening"
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
    const opener = makeOpener(yield* CustomerKeys, options)
    const keys = opener.keys

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

    const openRows = (rows: ReadonlyArray<ProfileField>) => Effect.mapError(opener.openRows(rows), storeError)

    /** Every profile's rows opened in one pass: one key look-up for the whole batch of customers. */
    const openProfiles = (profiles: ReadonlyArray<CustomerProfile>) =>
      Effect.gen(function* () {
        const all = yield* openRows(profiles.flatMap((p) => [...p.active, ...p.history, ...p.expired]))
        let at = 0
        const take = (n: number) => {
          const part = all.slice(at, at + n)
          at += n
          return part
        }
        return profiles.map((p) => ({
          active: take(p.active.length),
          history: take(p.history.length),
          expired: take(p.expired.length)
        }))
      })

    /** Every write op's rows sealed in one pass: one key look-up for the whole batch. */
    const sealOps = (ops: ReadonlyArray<ProfileOp>) =>
      Effect.gen(function* () {
        const rows = yield* sealWrites(ops.flatMap((op) => (op.kind === "write" ? op.rows : [])))
        let at = 0
        return ops.map((op): ProfileOp => {
          if (op.kind !== "write") return op
          const part = rows.slice(at, at + op.rows.length)
          at += op.rows.length
          return { ...op, rows: part }
        })
      })

    return {
      ...inner,
      writeFields: (rows) => Effect.flatMap(sealWrites(rows), inner.writeFields),
      applyOps: (ops) => Effect.flatMap(sealOps(ops), inner.applyOps),
      loadCustomer: (tenantId, customerId, historyLimit) =>
        Effect.flatMap(inner.loadCustomer(tenantId, customerId, historyLimit), (profile) =>
          Effect.map(openProfiles([profile]), (opened) => opened[0]!)
        ),
      loadCustomers: (customers, historyLimit) =>
        Effect.flatMap(inner.loadCustomers(customers, historyLimit), openProfiles),
      derivationChain: (tenantId, id) => Effect.flatMap(inner.derivationChain(tenantId, id), openRows),
      derivedItems: (tenantId, id) => Effect.flatMap(inner.derivedItems(tenantId, id), openRows),
      fieldHistory: (tenantId, customerId, name) =>
        Effect.flatMap(inner.fieldHistory(tenantId, customerId, name), openRows),
      list: (filter) => Effect.flatMap(inner.list(filter), openRows)
    } satisfies ProfileStoreService
  })

/**
 * IngestionStore decorator: the session summaries (derived from the turn texts) are sealed under
 * the customer's data key, and open to nothing once the customer is erased.
 */
export const makeSealedSummaries = (options: SealingOptions = DEFAULT_SEALING) =>
  Effect.gen(function* () {
    const inner = yield* IngestionStore
    const opener = makeOpener(yield* CustomerKeys, options)
    const toError = (error: CustomerKeysError) =>
      new IngestionStoreError({ operation: `keys.${error.operation}`, cause: error.cause })
    return {
      ...inner,
      saveSummary: (summary) =>
        Effect.flatMap(Effect.mapError(opener.sealSummary(summary), toError), inner.saveSummary),
      summary: (tenantId, sessionId) =>
        Effect.flatMap(inner.summary(tenantId, sessionId), (found) =>
          found === null ? Effect.succeed(null) : Effect.mapError(opener.openSummary(found), toError)
        )
    } satisfies IngestionStoreService
  })

/**
 * The given stores (CustomerKeys among them) with their ProfileStore and IngestionStore sealed:
 * everything else of the context passes through unchanged.
 */
export const withSealing =
  (options: SealingOptions = DEFAULT_SEALING) =>
  <ROut, E, R>(stores: Layer.Layer<ROut | ProfileStore | IngestionStore | CustomerKeys, E, R>) =>
    Layer.effectContext(
      Effect.gen(function* () {
        const context = yield* Effect.context<ROut | ProfileStore | IngestionStore | CustomerKeys>()
        const profiles = yield* Effect.provide(make(options), context)
        const summaries = yield* Effect.provide(makeSealedSummaries(options), context)
        return context.pipe(Context.add(ProfileStore, profiles), Context.add(IngestionStore, summaries))
      })
    ).pipe(Layer.provide(stores))
