/** ProfileStore contract: last writer wins per (tenant, customer, name), replay-safe by id. */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import type { ProfileField } from "../../src/domain/model"
import { type ChangedItem, ProfileStore } from "../../src/ports/ProfileStore"
import { profileField } from "./fixtures"
import type { StoreIt } from "./stores.contract"

const summary = (rows: ReadonlyArray<ProfileField>) =>
  rows.map((row) => ({ id: row.id, status: row.status, superseded_by_id: row.superseded_by_id }))

const activePerField = (rows: ReadonlyArray<ProfileField>) => {
  const counts = new Map<string, number>()
  for (const row of rows) if (row.status === "active") counts.set(row.name, (counts.get(row.name) ?? 0) + 1)
  return Math.max(0, ...counts.values())
}

export const profileCases = (it: StoreIt, tenant: (label: string) => string) => {
  it.effect("profile: a newer row supersedes the active one and keeps its exact content", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("lww-newer")
      const first = profileField({
        tenant: t,
        name: "email",
        value: "a@x.io",
        at: "2024-05-01T10:00:00Z",
        turn: "t1"
      })
      const second = profileField({
        tenant: t,
        name: "email",
        value: { primary: "b@x.io", verified: [true, 1.5] },
        at: "2024-05-01T12:00:00.250+02:00",
        turn: "t2"
      })
      yield* store.writeFields([first])
      yield* store.writeFields([second])
      const profile = yield* store.loadCustomer(t, "cust-1", 10)
      expect(profile.active).toEqual([second])
      expect(profile.history).toEqual([{ ...first, status: "superseded", superseded_by_id: second.id }])
    })
  )

  it.effect("profile: fieldHistory is one field's every row, newest first, with its definition version", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("field-history")
      const row = (turn: string, at: string, extra: Partial<Parameters<typeof profileField>[0]> = {}) =>
        profileField({ tenant: t, name: "plan", value: turn, at, turn, ...extra })
      const v1 = row("t1", "2024-05-01T10:00:00Z", { definitionVersion: 1 })
      const v2 = row("t2", "2024-05-01T11:00:00Z", { definitionVersion: 2 })
      const imported = row("t0", "2024-05-01T09:00:00Z", { definitionVersion: null })
      // an older row arriving last is stored superseded, and sorts by its time, not its arrival
      const late = row("t1b", "2024-05-01T10:30:00Z", { definitionVersion: 2 })
      const otherField = profileField({
        tenant: t,
        name: "email",
        value: "x",
        at: "2024-05-01T12:00:00Z",
        turn: "t3"
      })
      const otherCustomer = row("t4", "2024-05-01T12:00:00Z", { customer: "cust-2" })
      yield* store.writeFields([imported, v1, v2, otherField, otherCustomer])
      yield* store.writeFields([late])
      const history = yield* store.fieldHistory(t, "cust-1", "plan")
      expect(history.map((r) => [r.source_item_id, r.status, r.definition_version])).toEqual([
        ["t2", "active", 2],
        ["t1b", "superseded", 2],
        ["t1", "superseded", 1],
        ["t0", "superseded", null]
      ])
      expect(history[0]).toEqual(v2)
      expect(yield* store.fieldHistory(t, "cust-1", "no-such-field")).toEqual([])
    })
  )

  it.effect("profile: loadCustomers answers what loadCustomer answers, one per customer in order", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("load-customers")
      const other = tenant("load-customers-other")
      const at = (hour: number) => `2024-05-01T${String(hour).padStart(2, "0")}:00:00Z`
      const field = (tenantId: string, customer: string, name: string, value: unknown, hour: number) =>
        profileField({ tenant: tenantId, customer, name, value, at: at(hour), turn: `t${hour}` })
      yield* store.writeFields([
        field(t, "c1", "tier", 1, 9),
        field(t, "c1", "tier", 2, 10),
        field(t, "c1", "tier", 3, 11),
        field(t, "c1", "city", "Bern", 9),
        field(t, "c2", "tier", 7, 8),
        field(other, "c1", "tier", 9, 12)
      ])
      const customers = [
        { tenant_id: t, customer_id: "c2" },
        { tenant_id: t, customer_id: "nobody" },
        { tenant_id: other, customer_id: "c1" },
        { tenant_id: t, customer_id: "c1" },
        { tenant_id: t, customer_id: "c2" }
      ]
      const expected = []
      for (const c of customers) expected.push(yield* store.loadCustomer(c.tenant_id, c.customer_id, 1))
      expect(expected[3]?.active.map((row) => row.value)).toEqual(["Bern", 3])
      expect(expected[3]?.history.map((row) => row.value)).toEqual([2])
      expect(expected[1]).toEqual({ active: [], history: [], expired: [] })
      // the second time from the cache, where there is one
      expect(yield* store.loadCustomers(customers, 1)).toEqual(expected)
      expect(yield* store.loadCustomers(customers, 1)).toEqual(expected)
      expect((yield* store.loadCustomers([customers[3]!], 5))[0]?.history.map((row) => row.value)).toEqual([
        1, 2
      ])
      expect(yield* store.loadCustomers([], 1)).toEqual([])
      // a write after the loads is what the next loadCustomers sees
      yield* store.writeFields([field(t, "c2", "tier", 8, 13)])
      const [c2] = yield* store.loadCustomers([customers[0]!], 1)
      expect(c2?.active.map((row) => row.value)).toEqual([8])
    })
  )

  it.effect("profile: an older late arrival is stored already superseded by the active row", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("lww-late")
      const newer = profileField({
        tenant: t,
        name: "phone",
        value: "+41",
        at: "2024-05-02T00:00:00Z",
        turn: "t2"
      })
      const older = profileField({
        tenant: t,
        name: "phone",
        value: "+33",
        at: "2024-05-01T00:00:00Z",
        turn: "t1"
      })
      yield* store.writeFields([newer])
      yield* store.writeFields([older])
      const rows = yield* store.list({ tenantId: t, includeHistory: true })
      expect(summary(rows)).toEqual([
        { id: older.id, status: "superseded", superseded_by_id: newer.id },
        { id: newer.id, status: "active", superseded_by_id: null }
      ])
    })
  )

  it.effect(
    "profile: after a case closed, an older value of the field arrives superseded by the expired one",
    () =>
      Effect.gen(function* () {
        const store = yield* ProfileStore
        const ticket = (t: string, value: string, minute: number, caseId: string) =>
          profileField({
            tenant: t,
            name: "ticket",
            value,
            at: `2024-05-01T10:0${minute}:00Z`,
            turn: `t${minute}`,
            scope: "CASE",
            caseId
          })
        const close = (t: string, caseId: string) =>
          ({ kind: "expire_case", tenant_id: t, customer_id: "cust-1", case_id: caseId }) as const
        // across calls, and within one batch: the same rows either way
        const apart = tenant("expired-apart")
        const together = tenant("expired-together")
        yield* store.applyOps([{ kind: "write", rows: [ticket(apart, "new", 5, "c2")] }])
        yield* store.applyOps([close(apart, "c2")])
        yield* store.applyOps([{ kind: "write", rows: [ticket(apart, "old", 1, "c1")] }])
        yield* store.applyOps([{ kind: "write", rows: [ticket(apart, "newest", 7, "c3")] }])
        yield* store.applyOps([
          { kind: "write", rows: [ticket(together, "new", 5, "c2")] },
          close(together, "c2"),
          { kind: "write", rows: [ticket(together, "old", 1, "c1")] },
          { kind: "write", rows: [ticket(together, "newest", 7, "c3")] }
        ])
        for (const t of [apart, together]) {
          const rows = yield* store.list({ tenantId: t, includeHistory: true })
          expect(rows.map((row) => [row.value, row.status, row.superseded_by_id])).toEqual([
            ["old", "superseded", "cust-1:ticket:t5"],
            ["new", "expired", null],
            ["newest", "active", null]
          ])
        }
        // the loaded profile names the latest expired CASE value of each field
        const other = tenant("expired-load")
        yield* store.applyOps([
          { kind: "write", rows: [ticket(other, "a", 2, "c1")] },
          close(other, "c1"),
          { kind: "write", rows: [ticket(other, "b", 4, "c2")] },
          close(other, "c2")
        ])
        const profile = yield* store.loadCustomer(other, "cust-1", 3)
        expect(profile.active).toEqual([])
        expect(profile.expired.map((row) => [row.value, row.status])).toEqual([["b", "expired"]])
        expect(yield* store.loadCustomers([{ tenant_id: other, customer_id: "cust-1" }], 3)).toEqual([
          profile
        ])
      })
  )

  it.effect(
    "profile: a confirmation is the active row's recency; an update older than it arrives superseded",
    () =>
      Effect.gen(function* () {
        const store = yield* ProfileStore
        const t = tenant("lww-confirmed")
        const set = profileField({
          tenant: t,
          name: "plan",
          value: "max",
          at: "2024-05-01T10:00:00Z",
          turn: "t1"
        })
        const confirm = (at: string, by: string, id = set.id) =>
          ({
            kind: "confirmation",
            tenant_id: t,
            customer_id: "cust-1",
            name: "plan",
            id,
            confirmed_at: at,
            confirmed_by: by
          }) as const
        const late = profileField({
          tenant: t,
          name: "plan",
          value: "basic",
          at: "2024-05-01T10:00:30Z",
          turn: "t9"
        })
        // in one call and across calls alike; an older confirmation and one naming another row are ignored
        yield* store.writeFields([set, confirm("2024-05-01T10:01:00Z", "t2")])
        yield* store.writeFields([
          confirm("2024-05-01T10:00:40Z", "t3"),
          confirm("2024-05-01T11:00:00Z", "t4", "other")
        ])
        yield* store.writeFields([late])
        const rows = yield* store.list({ tenantId: t, includeHistory: true })
        expect(
          rows.map((row) => [row.id, row.status, row.superseded_by_id, row.confirmed_at, row.confirmed_by])
        ).toEqual([
          [set.id, "active", null, "2024-05-01T10:01:00Z", "t2"],
          [late.id, "superseded", set.id, null, null]
        ])
        // a newer update still supersedes the confirmed row, which keeps its confirmation
        const newer = profileField({
          tenant: t,
          name: "plan",
          value: "pro",
          at: "2024-05-01T10:02:00Z",
          turn: "t5"
        })
        yield* store.writeFields([confirm("2024-05-01T10:01:30Z", "t6"), newer])
        const after = yield* store.loadCustomer(t, "cust-1", 10)
        expect(after.active.map((row) => row.id)).toEqual([newer.id])
        expect(after.history.find((row) => row.id === set.id)).toMatchObject({
          status: "superseded",
          superseded_by_id: newer.id,
          confirmed_at: "2024-05-01T10:01:30Z",
          confirmed_by: "t6"
        })
      })
  )

  it.effect("profile: rewriting an id that exists is a no-op", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("lww-idempotent")
      const row = profileField({
        tenant: t,
        name: "plan",
        value: "gold",
        at: "2024-05-01T00:00:00Z",
        turn: "t1"
      })
      yield* store.writeFields([row])
      yield* store.writeFields([row, { ...row, value: "changed" }])
      expect(yield* store.list({ tenantId: t, includeHistory: true })).toEqual([row])
    })
  )

  it.effect("profile: several rows for one field in one batch leave exactly one active, the latest", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("lww-batch")
      const at = (hour: number) => `2024-05-01T${String(hour).padStart(2, "0")}:00:00Z`
      const stored = profileField({ tenant: t, name: "tier", value: 0, at: at(8), turn: "t0" })
      yield* store.writeFields([stored])
      const a = profileField({ tenant: t, name: "tier", value: 1, at: at(9), turn: "t1" })
      const c = profileField({ tenant: t, name: "tier", value: 3, at: at(11), turn: "t3" })
      const b = profileField({ tenant: t, name: "tier", value: 2, at: at(10), turn: "t2" })
      const early = profileField({ tenant: t, name: "tier", value: -1, at: at(7), turn: "t-1" })
      const other = profileField({ tenant: t, name: "city", value: "Bern", at: at(9), turn: "t1" })
      yield* store.writeFields([a, c, other, b, early])
      const rows = yield* store.list({ tenantId: t, includeHistory: true })
      expect(activePerField(rows)).toBe(1)
      const byId = new Map(rows.map((row) => [row.id, row]))
      expect(byId.get(c.id)?.status).toBe("active")
      expect(byId.get(other.id)?.status).toBe("active")
      expect(byId.get(stored.id)?.superseded_by_id).toBe(a.id)
      expect(byId.get(a.id)?.superseded_by_id).toBe(c.id)
      expect(byId.get(b.id)?.superseded_by_id).toBe(c.id)
      expect(byId.get(early.id)?.superseded_by_id).toBe(c.id)
      const profile = yield* store.loadCustomer(t, "cust-1", 2)
      expect(profile.active.map((row) => row.id)).toEqual([other.id, c.id])
      expect(profile.history.map((row) => row.id)).toEqual([a.id, b.id])
    })
  )

  it.effect("profile: equal updated_at is decided by source_item_id; offsets compare as instants", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("lww-tie")
      const x = profileField({
        tenant: t,
        name: "lang",
        value: "fr",
        at: "2024-05-01T12:00:00+02:00",
        turn: "t-b"
      })
      const y = profileField({
        tenant: t,
        name: "lang",
        value: "de",
        at: "2024-05-01T10:00:00Z",
        turn: "t-a"
      })
      yield* store.writeFields([x, y])
      const active = yield* store.list({ tenantId: t })
      expect(active.map((row) => row.id)).toEqual([x.id])
    })
  )

  it.effect("profile: expireCase hits only active CASE rows of that case, and is idempotent", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("expire-case")
      const at = "2024-05-01T10:00:00Z"
      const hit = profileField({
        tenant: t,
        name: "ticket",
        value: 1,
        at,
        turn: "t1",
        scope: "CASE",
        caseId: "c1"
      })
      const otherCase = profileField({
        tenant: t,
        name: "rma",
        value: 2,
        at,
        turn: "t1",
        scope: "CASE",
        caseId: "c2"
      })
      const business = profileField({ tenant: t, name: "plan", value: "x", at, turn: "t1", caseId: "c1" })
      const otherCustomer = profileField({ ...hitSpec(t, "cust-2"), at, turn: "t1" })
      yield* store.writeFields([hit, otherCase, business, otherCustomer])
      expect(yield* store.expireCase(t, "cust-1", "c1")).toEqual([hit.id])
      expect(yield* store.expireCase(t, "cust-1", "c1")).toEqual([])
      const rows = yield* store.list({ tenantId: t, includeHistory: true })
      expect(rows.filter((row) => row.status === "expired").map((row) => row.id)).toEqual([hit.id])
    })
  )

  it.effect("profile: applyOps applies a batch's writes and case closures in order", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("apply-ops")
      const first = profileField({
        tenant: t,
        name: "ticket",
        value: 1,
        at: "2024-05-01T10:00:00Z",
        turn: "t1",
        scope: "CASE",
        caseId: "c1"
      })
      const plan = profileField({
        tenant: t,
        customer: "cust-2",
        name: "plan",
        value: "pro",
        at: "2024-05-01T10:00:00Z",
        turn: "t1"
      })
      const reopened = profileField({
        tenant: t,
        name: "ticket",
        value: 2,
        at: "2024-05-01T11:00:00Z",
        turn: "t2",
        scope: "CASE",
        caseId: "c1"
      })
      yield* store.applyOps([
        { kind: "write", rows: [first, plan] },
        { kind: "expire_case", tenant_id: t, customer_id: "cust-1", case_id: "c1" },
        { kind: "write", rows: [reopened] }
      ])
      const rows = yield* store.list({ tenantId: t, includeHistory: true })
      // the closure expired what was active then; the later write of the same case is active
      expect(rows.map((row) => [row.id, row.status])).toEqual([
        [first.id, "expired"],
        [reopened.id, "active"],
        [plan.id, "active"]
      ])
      // replaying the same batch changes nothing
      yield* store.applyOps([
        { kind: "write", rows: [first, plan] },
        { kind: "write", rows: [reopened] }
      ])
      expect(yield* store.list({ tenantId: t, includeHistory: true })).toEqual(rows)
    })
  )

  it.effect("profile: one applyOps of a batch equals its ops applied one at a time", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const at = (minute: number) => `2024-05-01T10:${String(minute).padStart(2, "0")}:00.000Z`
      /** A batch touching stored rows: confirmations, closures before and after writes, replays. */
      const scenario = (t: string) => {
        const ticket = (value: number, minute: number, caseId = "c1") =>
          profileField({
            tenant: t,
            name: "ticket",
            value,
            at: at(minute),
            turn: `t${minute}`,
            scope: "CASE",
            caseId
          })
        const plan = (value: string, minute: number) =>
          profileField({ tenant: t, name: "plan", value, at: at(minute), turn: `t${minute}` })
        const storedTicket = ticket(1, 1)
        const storedOther = profileField({
          tenant: t,
          name: "order",
          value: 7,
          at: at(1),
          turn: "t1",
          scope: "CASE",
          caseId: "c1"
        })
        const storedPlan = plan("basic", 1)
        const before = [storedTicket, storedOther, storedPlan]
        const close = { kind: "expire_case", tenant_id: t, customer_id: "cust-1", case_id: "c1" } as const
        const confirmPlan = {
          kind: "confirmation",
          tenant_id: t,
          customer_id: "cust-1",
          name: "plan",
          id: storedPlan.id,
          confirmed_at: at(5),
          confirmed_by: "t5"
        } as const
        const ops = [
          { kind: "write", rows: [ticket(2, 2), confirmPlan, plan("old", 3)] },
          close,
          { kind: "write", rows: [ticket(3, 6), ticket(4, 7, "c2"), ticket(2, 2)] },
          close,
          { kind: "write", rows: [ticket(5, 8), plan("pro", 9)] }
        ] as const
        return { before, ops }
      }
      const batched = tenant("ops-batched")
      const single = tenant("ops-single")
      const one = scenario(batched)
      yield* store.writeFields(one.before)
      yield* store.applyOps(one.ops)
      const other = scenario(single)
      yield* store.writeFields(other.before)
      for (const op of other.ops) yield* store.applyOps([op])
      const shape = (rows: ReadonlyArray<ProfileField>) =>
        rows.map((row) => [row.id, row.value, row.status, row.superseded_by_id, row.confirmed_by])
      const rows = yield* store.list({ tenantId: batched, includeHistory: true })
      expect(shape(rows)).toEqual(shape(yield* store.list({ tenantId: single, includeHistory: true })))
      // the first closure expired the batch's ticket and the stored order; the second found the
      // ticket in case c2 and left it, so the last c1 ticket supersedes it
      expect(shape(rows.filter((row) => row.status === "active"))).toEqual([
        ["cust-1:plan:t9", "pro", "active", null, null],
        ["cust-1:ticket:t8", 5, "active", null, null]
      ])
      const byId = (id: string) => rows.find((row) => row.id === id)
      expect(byId("cust-1:ticket:t2")?.status).toBe("expired")
      expect(byId("cust-1:order:t1")?.status).toBe("expired")
      expect(byId("cust-1:ticket:t6")).toMatchObject({
        status: "superseded",
        superseded_by_id: "cust-1:ticket:t7"
      })
      expect(byId("cust-1:ticket:t7")).toMatchObject({
        status: "superseded",
        superseded_by_id: "cust-1:ticket:t8"
      })
      expect(rows.find((row) => row.id === "cust-1:plan:t3")).toMatchObject({
        status: "superseded",
        superseded_by_id: "cust-1:plan:t1"
      })
    })
  )

  it.effect("profile: expireStale expires active rows past expires_at, once, and names them", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("expire-stale")
      const at = "2024-05-01T10:00:00Z"
      const stale = profileField({
        tenant: t,
        name: "otp",
        value: "1",
        at,
        turn: "t1",
        expiresAt: "2024-05-01T11:00:00Z"
      })
      const fresh = profileField({
        tenant: t,
        name: "mood",
        value: "ok",
        at,
        turn: "t1",
        expiresAt: "2030-01-01T00:00:00Z"
      })
      const forever = profileField({ tenant: t, name: "name", value: "Ada", at, turn: "t1" })
      yield* store.writeFields([stale, fresh, forever])
      const other = profileField({
        tenant: t,
        customer: "cust-2",
        name: "otp",
        value: "2",
        at,
        turn: "t2",
        expiresAt: "2024-05-01T11:00:00Z"
      })
      yield* store.writeFields([other])
      // loaded (and, behind a cache, cached) before the job: the job must not leave it stale
      const before = yield* store.loadCustomer(t, stale.customer_id, 10)
      expect(before.active.map((row) => row.name).sort()).toEqual(["mood", "name", "otp"])
      // the store is shared by every case: only this case's tenant is looked at
      const ofCase = (items: ReadonlyArray<ChangedItem>) => items.filter((item) => item.tenant_id === t)
      const now = new Date("2024-06-01T00:00:00Z")
      expect(ofCase(yield* store.expireStale(now))).toEqual([
        { tenant_id: t, customer_id: stale.customer_id, id: stale.id, name: "otp", source_item_id: "t1" },
        { tenant_id: t, customer_id: "cust-2", id: other.id, name: "otp", source_item_id: "t2" }
      ])
      expect(ofCase(yield* store.expireStale(now))).toEqual([])
      const after = yield* store.loadCustomer(t, stale.customer_id, 10)
      expect(after.active.map((row) => row.name).sort()).toEqual(["mood", "name"])
      const rows = yield* store.list({ tenantId: t, includeHistory: true })
      expect(rows.map((row) => [row.customer_id, row.name, row.status])).toEqual([
        [stale.customer_id, "mood", "active"],
        [stale.customer_id, "name", "active"],
        [stale.customer_id, "otp", "expired"],
        ["cust-2", "otp", "expired"]
      ])
    })
  )
}

const hitSpec = (t: string, customer: string) => ({
  tenant: t,
  customer,
  name: "ticket",
  value: 1,
  scope: "CASE" as const,
  caseId: "c1"
})
