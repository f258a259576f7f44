/** ProfileStore contract: lineage (derivation chain, refused deletes, orphans; DESIGN 3.6). */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import type { ProfileAsset } from "../../src/domain/model"
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

      expect((yield* store.derivedItems(t, root.id)).map((row) => row.id)).toEqual([mid.id])
      expect((yield* store.derivedItems(t, leaf.id)).map((row) => row.id)).toEqual([])

      const request = (cascade: boolean, by = "ops@example.com") => ({
        by,
        reason: "customer asked",
        at: new Date("2024-05-02T09:00:00Z"),
        cascade
      })
      // refused while anything derives from it, naming every dependent, however indirect
      const refused = yield* Effect.flip(store.deleteItem(t, root.id, request(false)))
      expect(refused).toMatchObject({
        _tag: "ProfileItemRefused",
        id: root.id,
        reason: "has_derived_items",
        dependents: [mid.id, leaf.id].sort()
      })
      const missing = yield* Effect.flip(store.deleteItem(t, "nope", request(false)))
      expect(missing).toMatchObject({ _tag: "ProfileItemRefused", reason: "not_found" })

      // a leaf goes alone; then the mid item has no live dependent left
      const leafGone = yield* store.deleteItem(t, leaf.id, request(false))
      expect(leafGone).toEqual([
        {
          tenant_id: t,
          item_id: leaf.id,
          deleted_at: "2024-05-02T09:00:00.000Z",
          deleted_by: "ops@example.com",
          reason: "customer asked",
          cascade_of: null,
          customer_id: leaf.customer_id,
          name: leaf.name,
          source_item_id: leaf.source_item_id
        }
      ])
      expect(yield* store.derivedItems(t, mid.id)).toEqual([])
      // cascade: the root and what is still derived from it
      const cascaded = yield* store.deleteItem(t, root.id, request(true, "dpo"))
      expect(cascaded.map((x) => [x.item_id, x.cascade_of, x.deleted_by])).toEqual([
        [root.id, null, "dpo"],
        [mid.id, root.id, "dpo"]
      ])
      // deleting again changes nothing; nothing is removed, every row is a tombstone now
      expect(yield* store.deleteItem(t, root.id, request(true))).toEqual([])
      const rows = yield* store.list({ tenantId: t, includeHistory: true })
      expect(rows.map((row) => [row.id, row.status]).sort()).toEqual(
        [root.id, mid.id, leaf.id].sort().map((id) => [id, "deleted"])
      )
      expect(yield* store.list({ tenantId: t })).toEqual([])
      expect((yield* store.tombstones(t)).map((x) => x.item_id).sort()).toEqual(
        [root.id, mid.id, leaf.id].sort()
      )
      expect(yield* store.tombstones(tenant("lineage-nobody"))).toEqual([])
      // the chain still explains a deleted item
      expect((yield* store.derivationChain(t, leaf.id)).map((row) => row.id)).toEqual([
        leaf.id,
        mid.id,
        root.id
      ])
    })
  )

  it.effect("lineage: a deleted row is not brought back by a later write of its field", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("tombstone-write")
      const first = profileField({ tenant: t, name: "email", value: "a@x.io", at, turn: "t1" })
      yield* store.writeFields([first])
      yield* store.deleteItem(t, first.id, { by: "ops", reason: "wrong", at: new Date(), cascade: false })
      const next = profileField({
        tenant: t,
        name: "email",
        value: "b@x.io",
        at: "2024-05-01T11:00:00Z",
        turn: "t2"
      })
      yield* store.writeFields([next])
      const rows = yield* store.list({ tenantId: t, includeHistory: true })
      expect(rows.map((row) => [row.source_item_id, row.status])).toEqual([
        ["t1", "deleted"],
        ["t2", "active"]
      ])
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
      // a value written later from a source that was deleted meanwhile is an orphan too
      const late = profileField({ tenant: t, name: "late", value: 4, at, turn: "t4", derivedFrom: source.id })
      yield* store.deleteItem(t, kept.id, { by: "ops", reason: "test", at: new Date(), cascade: false })
      yield* store.deleteItem(t, source.id, { by: "ops", reason: "test", at: new Date(), cascade: false })
      yield* store.writeFields([late])
      expect(ofCase(yield* store.markOrphans()).map((item) => item.id)).toEqual([late.id])
    })
  )

  it.effect("lineage: assets are stored once per id, listed per customer, and count as sources", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("assets")
      const asset = (id: string, customer: string, extra: Partial<ProfileAsset> = {}): ProfileAsset => ({
        tenant_id: t,
        id,
        customer_id: customer,
        kind: "document",
        uri: `s3://bucket/${id}.pdf`,
        inline_ref: null,
        mime_type: "application/pdf",
        size_bytes: 2048,
        sha256: "a".repeat(64),
        derived_from_tool: null,
        status: "active",
        source_item_id: "t1",
        source_item_type: "turn",
        source_metadata: { session_id: "s1", agent_id: "a1" },
        created_at: at,
        ...extra
      })
      const invoice = asset("invoice-1", "cust-1", {
        derived_from_tool: "crm.export",
        source_item_type: "tool"
      })
      const photo = asset("photo-1", "cust-2", {
        uri: null,
        inline_ref: "msg-7/attachment-0",
        mime_type: "image/png"
      })
      yield* store.writeAssets([invoice, photo])
      // the same id again (another content, another turn) changes nothing: an asset id names one content
      yield* store.writeAssets([{ ...invoice, sha256: "b".repeat(64), source_item_id: "t9" }])
      expect(yield* store.listAssets({ tenantId: t })).toEqual([invoice, photo])
      expect(yield* store.listAssets({ tenantId: t, customerId: "cust-2" })).toEqual([photo])
      expect(yield* store.listAssets({ tenantId: tenant("assets-none") })).toEqual([])

      // a field derived from an asset is not an orphan; one derived from an unknown id is
      const total = profileField({
        tenant: t,
        name: "invoice_total",
        value: 120,
        at,
        turn: "t2",
        derivedFrom: invoice.id
      })
      const stray = profileField({
        tenant: t,
        name: "stray",
        value: 1,
        at,
        turn: "t3",
        derivedFrom: "photo-404"
      })
      yield* store.writeFields([total, stray])
      const orphaned = (yield* store.markOrphans()).filter((item) => item.tenant_id === t)
      expect(orphaned.map((item) => item.id)).toEqual([stray.id])
      expect((yield* store.derivedItems(t, invoice.id)).map((row) => row.id)).toEqual([total.id])
    })
  )

  it.effect("lineage: a turn source never orphans; derivationDepths counts the longest chains", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("depths")
      const base = profileField({ tenant: t, name: "base", value: 1, at, turn: "t1" })
      const fromTurn = profileField({
        tenant: t,
        name: "from_turn",
        value: 2,
        at,
        turn: "t2",
        derivedFrom: "turn:t1"
      })
      const one = profileField({ tenant: t, name: "one", value: 3, at, turn: "t3", derivedFrom: base.id })
      // two sources: the deeper one (one, depth 1) counts, so depth 2
      const two = profileField({
        tenant: t,
        name: "two",
        value: 4,
        at,
        turn: "t4",
        derivedFrom: [base.id, one.id]
      })
      const three = profileField({ tenant: t, name: "three", value: 5, at, turn: "t5", derivedFrom: two.id })
      // a cycle (a <-> b) is cut: each is one hop from the other, which names a source, so depth 2
      const cycleA = profileField({
        tenant: t,
        name: "cycle_a",
        value: 6,
        at,
        turn: "t6",
        derivedFrom: "placeholder"
      })
      const cycleB = profileField({
        tenant: t,
        name: "cycle_b",
        value: 7,
        at,
        turn: "t7",
        derivedFrom: cycleA.id
      })
      const a = { ...cycleA, source_metadata: { derived_from: cycleB.id } }
      yield* store.writeFields([base, fromTurn, one, two, three, a, cycleB])
      expect(
        yield* store.markOrphans().pipe(Effect.map((items) => items.filter((i) => i.tenant_id === t)))
      ).toEqual([])
      expect([...(yield* store.derivationDepths(t))].sort(([x], [y]) => x - y)).toEqual([
        [1, 2],
        [2, 3],
        [3, 1]
      ])
      expect((yield* store.derivationDepths(tenant("depths-none"))).size).toBe(0)
      // a superseded source still counts for its dependents' depth; a superseded root is not counted
      const newer = profileField({
        tenant: t,
        name: "three",
        value: 8,
        at: "2024-05-02T10:00:00Z",
        turn: "t8"
      })
      yield* store.writeFields([newer])
      expect([...(yield* store.derivationDepths(t))].sort(([x], [y]) => x - y)).toEqual([
        [1, 2],
        [2, 3]
      ])
    })
  )
}
