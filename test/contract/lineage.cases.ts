/** ProfileStore contract: lineage (derivation chain, refused deletes, orphans; DESIGN 3.6). */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import { type ChangedItem, ProfileStore } from "../../src/ports/ProfileStore"
import { profileField } from "./fixtures"
import type { StoreIt } from "./stores.contract"

const at = "2024-05-01T10:00:00Z"

export const lineageCases = (it: StoreIt, tenant: (label: string) => string) => {
  it.effect("lineage: derivationChain walks derived_from nearest first; deleting a source is refused", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("lineage")
      const root = profileField({ tenant: t, name: "raw_address", value: "x", at, turn: "t1" })
      const mid = profileField({
        tenant: t,
        name: "address",
        value: "y",
        at,
        turn: "t2",
        derivedFrom: root.id
      })
      const leaf = profileField({
        tenant: t,
        name: "region",
        value: "z",
        at,
        turn: "t3",
        derivedFrom: mid.id
      })
      yield* store.writeFields([root, mid, leaf])

      const chain = yield* store.derivationChain(t, leaf.id)
      expect(chain.map((row) => row.id)).toEqual([leaf.id, mid.id, root.id])
      expect(yield* store.derivationChain(t, "nope")).toEqual([])

      const refused = yield* Effect.flip(store.deleteItem(t, root.id))
      expect(refused).toMatchObject({
        _tag: "ProfileItemRefused",
        id: root.id,
        reason: "has_derived_items"
      })
      const missing = yield* Effect.flip(store.deleteItem(t, "nope"))
      expect(missing).toMatchObject({ _tag: "ProfileItemRefused", reason: "not_found" })

      yield* store.deleteItem(t, leaf.id)
      yield* store.deleteItem(t, mid.id)
      const rows = yield* store.list({ tenantId: t, includeHistory: true })
      expect(rows.map((row) => row.id)).toEqual([root.id])
    })
  )

  it.effect("lineage: the chain stays within the tenant", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const a = tenant("lineage-a")
      const b = tenant("lineage-b")
      const source = profileField({ tenant: b, name: "src", value: 1, at, turn: "t1" })
      const derived = profileField({
        tenant: a,
        name: "der",
        value: 2,
        at,
        turn: "t2",
        derivedFrom: source.id
      })
      yield* store.writeFields([source, derived])
      expect((yield* store.derivationChain(a, derived.id)).map((row) => row.id)).toEqual([derived.id])
    })
  )

  it.effect("lineage: markOrphans marks active items whose source is gone, idempotently", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("orphans")
      const source = profileField({ tenant: t, name: "src", value: 1, at, turn: "t1" })
      const kept = profileField({ tenant: t, name: "kept", value: 2, at, turn: "t2", derivedFrom: source.id })
      const lost = profileField({
        tenant: t,
        name: "lost",
        value: 3,
        at,
        turn: "t3",
        derivedFrom: "gone-item"
      })
      yield* store.writeFields([source, kept, lost])
      // the store is shared by every case: only this case's tenant is looked at
      const ofCase = (items: ReadonlyArray<ChangedItem>) => items.filter((item) => item.tenant_id === t)
      expect(ofCase(yield* store.markOrphans())).toEqual([
        { tenant_id: t, customer_id: lost.customer_id, id: lost.id, name: "lost", source_item_id: "t3" }
      ])
      expect(ofCase(yield* store.markOrphans())).toEqual([])
      const rows = yield* store.list({ tenantId: t, includeHistory: true })
      expect(rows.map((row) => [row.name, row.status])).toEqual([
        ["kept", "active"],
        ["lost", "orphaned"],
        ["src", "active"]
      ])
    })
  )
}
