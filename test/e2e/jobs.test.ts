/**
 * `turnvault jobs run expire|orphans` through the real CLI against a fresh PostgreSQL: it changes
 * the stale rows, prints a JSON summary, and a second run finds nothing (the jobs are idempotent).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { PgStoresLive } from "../../src/adapters/postgres"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { profileField } from "../contract/fixtures"
import { runCli } from "../support/cli"
import { freshDatabase } from "../support/postgres"

const jobsRun = (job: string, url: string) =>
  Effect.promise(() => runCli(["jobs", "run", job], { DATABASE_URL: url }))

describe("turnvault jobs run", () => {
  it.scopedLive(
    "expire and orphans change the stale rows once and print what they did",
    () =>
      Effect.gen(function* () {
        const db = yield* Effect.acquireRelease(
          Effect.promise(() => freshDatabase()),
          (db) => Effect.promise(() => db.drop())
        )
        const at = "2024-05-01T10:00:00Z"
        yield* Effect.flatMap(ProfileStore, (store) =>
          store.writeFields([
            profileField({
              tenant: "t1",
              name: "otp",
              value: "1",
              at,
              turn: "t1",
              expiresAt: "2024-05-01T11:00:00Z"
            }),
            profileField({
              tenant: "t1",
              customer: "c2",
              name: "otp",
              value: "2",
              at,
              turn: "t1",
              expiresAt: "2024-05-01T11:00:00Z"
            }),
            profileField({ tenant: "t1", name: "name", value: "Ada", at, turn: "t1" }),
            profileField({ tenant: "t1", name: "summary", value: "s", at, turn: "i1", derivedFrom: "gone" })
          ])
        ).pipe(Effect.provide(PgStoresLive({ connectionString: db.url, max: 2 })))

        const expire = yield* jobsRun("expire", db.url)
        expect(expire.stderr).toBe("")
        expect(expire.code).toBe(0)
        expect(JSON.parse(expire.stdout)).toMatchObject({ job: "expire", items_changed: 2, customers: 2 })
        expect(typeof JSON.parse(expire.stdout).duration_ms).toBe("number")
        expect(JSON.parse((yield* jobsRun("expire", db.url)).stdout)).toMatchObject({ items_changed: 0 })

        const orphans = yield* jobsRun("orphans", db.url)
        expect(orphans.code).toBe(0)
        expect(JSON.parse(orphans.stdout)).toMatchObject({ job: "orphans", items_changed: 1, customers: 1 })

        const rows = yield* Effect.flatMap(ProfileStore, (store) =>
          store.list({ tenantId: "t1", includeHistory: true })
        ).pipe(Effect.provide(PgStoresLive({ connectionString: db.url, max: 2 })))
        expect(rows.map((row) => [row.customer_id, row.name, row.status])).toEqual([
          ["c2", "otp", "expired"],
          ["cust-1", "name", "active"],
          ["cust-1", "otp", "expired"],
          ["cust-1", "summary", "orphaned"]
        ])
      }),
    60_000
  )

  it.live("an unknown job is a usage error", () =>
    Effect.gen(function* () {
      const result = yield* Effect.promise(() => runCli(["jobs", "run", "vacuum"], { DATABASE_URL: "" }))
      expect(result.code).toBe(2)
      expect(result.stderr).toContain("usage: turnvault jobs run expire|orphans")
    })
  )
})
