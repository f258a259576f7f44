/** The store contract against PostgreSQL (a fresh, migrated database), plus pg-only atomicity. */
import { expect, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { PgStoresLive } from "../../src/adapters/postgres"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { SessionStore } from "../../src/ports/SessionStore"
import { UnitOfWork } from "../../src/ports/UnitOfWork"
import { AuditStore } from "../../src/ports/AuditStore"
import { freshDatabase } from "../support/postgres"
import { profileField, sessionRecord, sessionState, turnRecord } from "./fixtures"
import { storeContract, TEST_KEK, tenantFactory } from "./stores.contract"

const pgStores = () =>
  Layer.unwrapScoped(
    Effect.acquireRelease(
      Effect.promise(() => freshDatabase()),
      (db) => Effect.promise(() => db.drop())
    ).pipe(Effect.map((db) => PgStoresLive({ connectionString: db.url, max: 4 }, TEST_KEK)))
  )

storeContract("postgres", pgStores)

layer(pgStores(), { timeout: "60 seconds" })("postgres unit of work", (it) => {
  const tenant = tenantFactory()

  it.effect("a failing write inside run rolls back the unit's other writes", () =>
    Effect.gen(function* () {
      const sessions = yield* SessionStore
      const audit = yield* AuditStore
      const uow = yield* UnitOfWork
      const t = tenant("atomic")
      expect(uow.atomic).toBe(true)
      const record = sessionRecord(sessionState(t, "s1"))
      // turn_number is an integer column: a fractional one makes the audit insert fail.
      const broken = { ...turnRecord(t, "s1", 1), turn_number: 1.5 }
      const failure = yield* Effect.flip(
        uow.run(
          Effect.all([sessions.save([record]), audit.append([broken], [])], { concurrency: "unbounded" })
        )
      )
      expect(failure).toMatchObject({ _tag: "AuditStoreError", operation: "append.records" })
      expect(yield* sessions.load(t, "s1")).toBeNull()
      expect(yield* audit.listRecords({ tenantId: t })).toEqual([])
    })
  )

  it.effect("concurrent writes in one unit share its connection and commit together", () =>
    Effect.gen(function* () {
      const sessions = yield* SessionStore
      const audit = yield* AuditStore
      const uow = yield* UnitOfWork
      const t = tenant("together")
      const records = Array.from({ length: 20 }, (_, i) => sessionRecord(sessionState(t, `s${i}`)))
      yield* uow.run(
        Effect.all(
          [
            Effect.forEach(records, (record) => sessions.save([record]), { concurrency: "unbounded" }),
            audit.append([turnRecord(t, "s1", 1)], [])
          ],
          { concurrency: "unbounded" }
        )
      )
      expect((yield* sessions.list({ tenantId: t })).length).toBe(20)
      expect((yield* audit.listRecords({ tenantId: t })).length).toBe(1)
    })
  )

  it.effect(
    "concurrent writers of one field (no unit of work) leave exactly one active row, the latest",
    () =>
      Effect.gen(function* () {
        const profiles = yield* ProfileStore
        const t = tenant("race")
        const rows = Array.from({ length: 12 }, (_, i) =>
          profileField({
            tenant: t,
            name: "email",
            value: i,
            at: `2024-05-01T10:${String(i).padStart(2, "0")}:00Z`,
            turn: `t${i}`
          })
        )
        yield* Effect.forEach(rows.reverse(), (row) => profiles.writeFields([row]), {
          concurrency: "unbounded"
        })
        const stored = yield* profiles.list({ tenantId: t, includeHistory: true })
        expect(stored.length).toBe(12)
        expect(stored.filter((row) => row.status === "active").map((row) => row.value)).toEqual([11])
        expect(stored.filter((row) => row.superseded_by_id === null).length).toBe(1)
      })
  )

  it.effect("an interrupted unit is rolled back", () =>
    Effect.gen(function* () {
      const sessions = yield* SessionStore
      const uow = yield* UnitOfWork
      const t = tenant("interrupted")
      const saved = yield* Deferred.make<void>()
      const unit = yield* Effect.fork(
        uow.run(
          sessions
            .save([sessionRecord(sessionState(t, "s1"))])
            .pipe(Effect.zipRight(Deferred.succeed(saved, undefined)), Effect.zipRight(Effect.never))
        )
      )
      yield* Deferred.await(saved)
      yield* Fiber.interrupt(unit)
      expect(yield* sessions.load(t, "s1")).toBeNull()
    })
  )
})
