/**
 * Opening what turnvault sealed (decision 0019), shared by every reader: profile rows (the store
 * decorator, the admin API's tenant reads) and session summaries. A value whose key was destroyed
 * (its customer erased) opens to null.
 */
import { Clock, Effect } from "effect"
import {
  isSealed,
  openText,
  openValue,
  sealedTextVersion,
  sealText,
  summaryBinding,
  valueBinding
} from "../domain/envelope"
import type { ProfileField } from "../domain/model"
import { type CustomerKeysService, customerKeyOf, versionKeyOf } from "../ports/CustomerKeys"
import type { SessionSummary } from "../ports/IngestionStore"
import { makeKeyCache, type SealingOptions } from "./keyCache"

export const makeOpener = (service: CustomerKeysService, options: SealingOptions) => {
  const keys = makeKeyCache(service, options)

  const openRows = (rows: ReadonlyArray<ProfileField>) =>
    Effect.gen(function* () {
      if (!rows.some((row) => isSealed(row.value))) return rows
      const now = yield* Clock.currentTimeMillis
      const wanted = rows.flatMap((row) =>
        isSealed(row.value) && keys.recall(row.value.d, now) === undefined
          ? [{ tenant_id: row.tenant_id, customer_id: row.customer_id, version: row.value.k }]
          : []
      )
      const found = wanted.length === 0 ? new Map() : yield* keys.find(wanted)
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

  /** The summary with its text opened; null when it no longer opens (its customer erased). */
  const openSummary = <
    S extends Pick<SessionSummary, "tenant_id" | "customer_id" | "session_id" | "summary">
  >(
    summary: S
  ) =>
    Effect.gen(function* () {
      const version = sealedTextVersion(summary.summary)
      if (version === null) return summary
      const found = yield* keys.find([{ ...summary, version }])
      const key = found.get(versionKeyOf(summary, version))
      const text =
        key === undefined
          ? undefined
          : openText(
              key,
              summaryBinding(summary.tenant_id, summary.customer_id, summary.session_id),
              summary.summary
            )
      return text === undefined ? null : { ...summary, summary: text }
    })

  const sealSummary = (summary: SessionSummary) =>
    Effect.gen(function* () {
      if (sealedTextVersion(summary.summary) !== null) return summary
      const key = (yield* keys.live([summary])).get(customerKeyOf(summary))
      if (key === undefined) throw new Error(`no data key for a customer of tenant ${summary.tenant_id}`)
      const binding = summaryBinding(summary.tenant_id, summary.customer_id, summary.session_id)
      return { ...summary, summary: sealText(key.key, key.version, binding, summary.summary) }
    })

  return { keys, openRows, openSummary, sealSummary }
}
