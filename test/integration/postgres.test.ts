/** The PostgreSQL schema against a real server: migrations, append-only tables, row-level security. */
import { describe, expect, it, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import pg from "pg"
import { AuditStore } from "../../src/ports/AuditStore"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { migrationStatus, PgStoresWithReaderLive, runMigrations } from "../../src/adapters/postgres"
import { PgClient, make as makePgClient } from "../../src/adapters/postgres/PgClient"
import {
  authenticatorUrl,
  layer as tenantReaderLayer,
  TenantReader,
  type TenantQuery
} from "../../src/adapters/postgres/TenantReader"
import { SessionStore } from "../../src/ports/SessionStore"
import { historyEntry, profileField, sessionRecord, sessionState, turnRecord } from "../contract/fixtures"
import { freshDatabase } from "../support/postgres"

const TABLES = [
  "admin_actions",
  "api_keys",
  "customer_keys",
  "erasure_receipts",
  "field_definitions",
  "ingestion_results",
  "profile_assets",
  "profile_fields",
  "profile_tombstones",
  "quarantined_events",
  "scenario_requirements",
  "session_history",
  "session_summaries",
  "sessions",
  "turn_records"
]

/** Tables without tenant data (no tenant_id), still under forced row-level security. */
const CLUSTER_TABLES = ["audit_checkpoints", "job_runs", "tenant_bindings"]

/** The processor's and the tenant role's privileges on a table, as `role:PRIVILEGE`. */
const grantsOn = (table: string) =>
  Effect.flatMap(PgClient, (pg) =>
    pg.query<{ grantee: string; privilege_type: string }>(
      `SELECT grantee, privilege_type FROM information_schema.role_table_grants
       WHERE table_name = $1 AND grantee IN ('turnvault_processor', 'turnvault_tenant')
       ORDER BY grantee, privilege_type`,
      [table]
    )
  ).pipe(Effect.map((result) => result.rows.map((row) => `${row.grantee}:${row.privilege_type}`)))

const database = (migrate: boolean) =>
  Effect.acquireRelease(
    Effect.promise(() => freshDatabase({ migrate })),
    (db) => Effect.promise(() => db.drop())
  )

const publicTables = (url: string) =>
  Effect.acquireUseRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      return client
    }),
    (client) =>
      Effect.promise(() =>
        client.query<{ name: string }>(
          "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        )
      ).pipe(Effect.map((result) => result.rows.map((row) => row.name))),
    (client) => Effect.promise(() => client.end())
  )

describe("postgres migrations", () => {
  it.scoped("run up, all the way down, and up again", () =>
    Effect.gen(function* () {
      const db = yield* database(false)
      const up = yield* runMigrations(db.url, "up")
      expect(up.length).toBeGreaterThanOrEqual(4)
      expect(yield* migrationStatus(db.url)).toEqual({ applied: up, pending: [] })
      const down = yield* runMigrations(db.url, "down")
      expect(down).toEqual([...up].reverse())
      expect(yield* migrationStatus(db.url)).toEqual({ applied: [], pending: up })
      expect(yield* publicTables(db.url)).toEqual(["pgmigrations"])
      expect(yield* runMigrations(db.url, "up")).toEqual(up)
    })
  )

  it.scoped(
    "instances migrating at once wait for each other: one applies, the others find nothing to do",
    () =>
      Effect.gen(function* () {
        const db = yield* database(false)
        const runs = yield* Effect.all(
          Array.from({ length: 3 }, () => runMigrations(db.url, "up")),
          { concurrency: "unbounded" }
        )
        const applied = runs.find((names) => names.length > 0)!
        expect(runs.filter((names) => names.length > 0)).toHaveLength(1)
        expect(yield* migrationStatus(db.url)).toEqual({ applied, pending: [] })
      })
  )
})

/** Tables the tenant role may read (all of a tenant's data); sessions of two tenants seeded below. */
const TENANT_READ_TABLES = ["sessions", "profile_fields", "turn_records", "field_definitions"]

const count = (q: TenantQuery, table: string) =>
  Effect.map(q<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`), (r) => r.rows[0]?.n)

/** The database URL the test's stores use (the processor pool's). */
const dbUrl = (client: PgClient["Type"]) =>
  (client.pool.options as { connectionString: string }).connectionString

/** One profile row, one turn record and one session for each of `rls-a` and `rls-b` (once). */
let seeded = false
const seedTwoTenants = Effect.gen(function* () {
  if (seeded) return
  seeded = true
  const at = "2024-05-01T10:00:00Z"
  yield* (yield* ProfileStore).writeFields([
    profileField({ tenant: "rls-a", name: "email", value: "a@x", at, turn: "t1" }),
    profileField({ tenant: "rls-b", name: "email", value: "b@x", at, turn: "t1" })
  ])
  yield* (yield* AuditStore).append([turnRecord("rls-a", "s1", 1), turnRecord("rls-b", "s1", 1)], [])
  yield* (yield* SessionStore).save([
    sessionRecord(sessionState("rls-a", "s1")),
    sessionRecord(sessionState("rls-b", "s1"))
  ])
})

const stores = Layer.unwrapScoped(
  Effect.map(database(true), (db) => PgStoresWithReaderLive({ connectionString: db.url, max: 4 }))
)

layer(stores, { timeout: "60 seconds" })("postgres schema", (it) => {
  it.effect("every table has tenant_id, leading every index, with forced row-level security", () =>
    Effect.gen(function* () {
      const pg = yield* PgClient
      const tables = yield* pg.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.columns
         WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY table_name`
      )
      expect(tables.rows.map((row) => row.table_name)).toEqual(TABLES)
      // B-tree indexes serve tenant queries and lead with tenant_id; the BRIN indexes on
      // recorded_at serve the checkpoint job's read across every tenant (migration 0018)
      const leading = yield* pg.query<{ index: string; first: string }>(
        `SELECT i.indexrelid::regclass::text AS index, a.attname AS first
         FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
         WHERE i.indrelid = ANY($1::regclass[]) AND am.amname <> 'brin'`,
        [TABLES]
      )
      expect(leading.rows.length).toBeGreaterThanOrEqual(TABLES.length)
      expect(leading.rows.filter((row) => row.first !== "tenant_id")).toEqual([])
      const rls = yield* pg.query<{ relname: string }>(
        `SELECT relname FROM pg_class WHERE relname = ANY($1) AND relrowsecurity AND relforcerowsecurity`,
        [TABLES]
      )
      expect(rls.rows.map((row) => row.relname).sort()).toEqual(TABLES)
      // every tenant policy reads the bound tenant, never a setting the session could change
      const policies = yield* pg.query<{ tablename: string; qual: string }>(
        `SELECT tablename, qual FROM pg_policies WHERE 'turnvault_tenant' = ANY(roles) ORDER BY tablename`
      )
      // admin_actions, api_keys and customer_keys have no tenant policy: the tenant never reads them
      expect(policies.rows.length).toBeGreaterThanOrEqual(TABLES.length - 3)
      expect(policies.rows.filter((row) => !row.qual.includes("turnvault_bound_tenant()"))).toEqual([])
    })
  )

  it.effect("job_runs: keyed by (job, tick), forced row-level security, no grant to the tenant role", () =>
    Effect.gen(function* () {
      const pg = yield* PgClient
      const key = yield* pg.query<{ column: string }>(
        `SELECT a.attname AS column
         FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
         WHERE i.indrelid = 'job_runs'::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`
      )
      expect(key.rows.map((row) => row.column)).toEqual(["job", "tick"])
      const rls = yield* pg.query<{ relname: string }>(
        `SELECT relname FROM pg_class WHERE relname = ANY($1) AND relrowsecurity AND relforcerowsecurity`,
        [CLUSTER_TABLES]
      )
      expect(rls.rows.map((row) => row.relname).sort()).toEqual(CLUSTER_TABLES)
      expect(yield* grantsOn("job_runs")).toEqual([
        "turnvault_processor:INSERT",
        "turnvault_processor:SELECT",
        "turnvault_processor:UPDATE"
      ])
    })
  )

  it.effect(
    "audit_checkpoints: insert-only for the processor, nothing for the tenant, no change for anyone",
    () =>
      Effect.gen(function* () {
        const pg = yield* PgClient
        expect(yield* grantsOn("audit_checkpoints")).toEqual([
          "turnvault_processor:INSERT",
          "turnvault_processor:SELECT"
        ])
        yield* pg.query(
          `INSERT INTO audit_checkpoints (seq, body, signature, heads) VALUES (1000, '{}', 'sig', '[]')`
        )
        for (const statement of [
          "UPDATE audit_checkpoints SET signature = 'forged'",
          "DELETE FROM audit_checkpoints",
          "TRUNCATE audit_checkpoints"
        ]) {
          const error = yield* Effect.flip(pg.query(statement))
          expect(String(error.cause), statement).toMatch(/append-only/)
        }
      })
  )

  it.effect("turn_records and session_history reject UPDATE, DELETE and TRUNCATE", () =>
    Effect.gen(function* () {
      const pg = yield* PgClient
      const audit = yield* AuditStore
      yield* audit.append([turnRecord("t-ledger", "s1", 1)], [historyEntry("t-ledger", "s1", 1)])
      const attempts = [
        "UPDATE turn_records SET hash = 'forged'",
        "DELETE FROM turn_records",
        "TRUNCATE turn_records",
        "UPDATE session_history SET reason = 'forged'",
        "DELETE FROM session_history",
        "TRUNCATE session_history"
      ]
      for (const statement of attempts) {
        const error = yield* Effect.flip(pg.query(statement))
        expect(String(error.cause), statement).toMatch(/append-only/)
      }
      expect((yield* audit.listRecords({ tenantId: "t-ledger" }))[0]?.hash).toBe("hash-1")
      expect((yield* audit.listHistory({ tenantId: "t-ledger" })).length).toBe(1)
    })
  )

  it.effect(
    "the tenant path: a tenant reads only its rows, through the authenticator, and cannot write",
    () =>
      Effect.gen(function* () {
        const client = yield* PgClient
        const reader = yield* TenantReader
        yield* seedTwoTenants
        const profile = yield* reader.listProfile("rls-a", "cust-1")
        expect(profile.map((row) => [row.tenant_id, row.value])).toEqual([["rls-a", "a@x"]])
        const records = yield* reader.listTurnRecords("rls-b", "s1")
        expect(records.map((record) => record.tenant_id)).toEqual(["rls-b"])
        for (const table of TENANT_READ_TABLES) {
          expect(yield* reader.withTenant("rls-a", (q) => count(q, table)), table).toBe(
            table === "field_definitions" ? 0 : 1
          )
          expect(yield* reader.withTenant("nobody", (q) => count(q, table)), table).toBe(0)
        }
        // it runs as the authenticator, not as the tables' owner
        const who = yield* reader.withTenant("rls-a", (q) =>
          q<{ session_user: string; current_user: string }>("SELECT session_user, current_user")
        )
        expect(who.rows[0]).toEqual({
          session_user: "turnvault_authenticator",
          current_user: "turnvault_tenant"
        })
        // SELECT-only: no write to any table, its own tenant's rows included
        for (const statement of [
          "INSERT INTO sessions (tenant_id, session_id, customer_id, agent_id, status, state, content_hash, version, updated_at) VALUES ('rls-a', 'forged', 'c', 'a', 'ACTIVE', '{}', 'h', 1, now())",
          "UPDATE profile_fields SET value = '\"forged\"'",
          "DELETE FROM field_definitions",
          "INSERT INTO turn_records SELECT * FROM turn_records",
          "INSERT INTO tenant_bindings (pid, bound_tenant_id) VALUES (pg_backend_pid(), 'rls-b')",
          "CREATE TABLE leak (x int)",
          "CREATE VIEW leak AS SELECT * FROM profile_fields"
        ]) {
          const refused = yield* Effect.flip(reader.withTenant("rls-a", (q) => q(statement)))
          expect(String(refused.cause), statement).toMatch(/permission denied/)
        }
        // The processor role's policy admits every tenant (superusers bypass RLS, so check it as the role).
        const asProcessor = client.transaction(
          Effect.zipRight(
            client.query("SET LOCAL ROLE turnvault_processor"),
            Effect.map(
              client.query<{ n: number }>("SELECT count(*)::int AS n FROM sessions"),
              (r) => r.rows[0]?.n
            )
          )
        )
        expect(yield* asProcessor).toBe(2)
      })
  )

  it.scoped("the tenant path cannot be escaped: role changes, set_config, cursors, temp tables, views", () =>
    Effect.gen(function* () {
      const client = yield* PgClient
      const reader = yield* TenantReader
      yield* seedTwoTenants
      const tenantsSeen = (q: TenantQuery, sql: string) =>
        Effect.map(q<{ tenant_id: string }>(sql), (r) =>
          [...new Set(r.rows.map((row) => row.tenant_id))].sort()
        )
      // RESET ROLE leaves the authenticator, which may read nothing at all
      const reset = yield* Effect.flip(
        reader.withTenant("rls-a", (q) => Effect.zipRight(q("RESET ROLE"), q("SELECT * FROM profile_fields")))
      )
      expect(String(reset.cause)).toMatch(/permission denied/)
      // no role with more rights is reachable
      for (const role of ["turnvault_processor", "postgres", "turnvault_authenticator"]) {
        const refused = yield* Effect.flip(
          reader.withTenant("rls-a", (q) =>
            Effect.zipRight(q(`SET ROLE ${role}`), q("SELECT * FROM profile_fields"))
          )
        )
        expect(String(refused.cause), role).toMatch(/permission denied/)
      }
      // the tenant is not a setting: set_config (in a subquery, for the session) changes nothing
      expect(
        yield* reader.withTenant("rls-a", (q) =>
          tenantsSeen(
            q,
            "SELECT tenant_id FROM profile_fields WHERE (SELECT set_config('turnvault.tenant_id', 'rls-b', false)) IS NOT NULL"
          )
        )
      ).toEqual(["rls-a"])
      expect(
        yield* reader.withTenant("rls-a", (q) =>
          Effect.zipRight(
            q("SELECT set_config('turnvault.tenant_id', 'rls-b', false)"),
            tenantsSeen(q, "SELECT tenant_id FROM profile_fields")
          )
        )
      ).toEqual(["rls-a"])
      // what tenant A's session leaves behind (a cursor WITH HOLD, a temporary table) is gone for B
      const single = yield* Layer.build(
        Layer.provide(
          tenantReaderLayer({ connectionString: authenticatorUrl(dbUrl(client)), max: 1 }),
          Layer.succeed(PgClient, client)
        )
      )
      const one = Context.get(single, TenantReader)
      yield* one.withTenant("rls-a", (q) =>
        Effect.zipRight(
          q("DECLARE leak CURSOR WITH HOLD FOR SELECT tenant_id FROM profile_fields"),
          q("CREATE TEMPORARY TABLE leak_rows AS SELECT tenant_id FROM profile_fields")
        )
      )
      const fetched = yield* Effect.flip(one.withTenant("rls-b", (q) => q("FETCH ALL FROM leak")))
      expect(String(fetched.cause)).toMatch(/cursor "leak" does not exist/)
      const temp = yield* Effect.flip(one.withTenant("rls-b", (q) => q("SELECT * FROM leak_rows")))
      expect(String(temp.cause)).toMatch(/does not exist/)
      // a connection given back after a failed transaction serves the next tenant its own rows only
      yield* Effect.flip(one.withTenant("rls-a", (q) => q("SELECT 1/0")))
      expect(
        yield* one.withTenant("rls-b", (q) => tenantsSeen(q, "SELECT tenant_id FROM profile_fields"))
      ).toEqual(["rls-b"])
      expect(
        yield* one.withTenant("rls-a", (q) => tenantsSeen(q, "SELECT tenant_id FROM profile_fields"))
      ).toEqual(["rls-a"])
      // a transaction that leaves the session's role reset (committed): the next single-statement
      // read on that connection reads nothing and fails; the connection is reset and serves again
      yield* one.withTenant("rls-a", (q) => q("RESET ROLE"))
      const denied = yield* Effect.flip(one.listProfile("rls-a", "cust-1"))
      expect(String(denied.cause)).toMatch(/permission denied/)
      expect((yield* one.listProfile("rls-a", "cust-1")).map((row) => row.tenant_id)).toEqual(["rls-a"])
      expect((yield* one.listProfile("rls-b", "cust-1")).map((row) => row.tenant_id)).toEqual(["rls-b"])
      // concurrent tenants on one pool: each read sees its own tenant only
      const reads = yield* Effect.all(
        Array.from({ length: 24 }, (_, i) => {
          const tenant = i % 3 === 0 ? "rls-a" : i % 3 === 1 ? "rls-b" : "nobody"
          return Effect.map(
            reader.withTenant(tenant, (q) => tenantsSeen(q, "SELECT tenant_id FROM profile_fields")),
            (seen) => [tenant, seen] as const
          )
        }),
        { concurrency: "unbounded" }
      )
      for (const [tenant, seen] of reads) expect(seen).toEqual(tenant === "nobody" ? [] : [tenant])
      // a view made by the owner runs with the owner's rights unless it is security_invoker
      yield* client.query("CREATE VIEW owner_view AS SELECT tenant_id FROM profile_fields")
      yield* client.query(
        "CREATE VIEW invoker_view WITH (security_invoker = true) AS SELECT tenant_id FROM profile_fields"
      )
      yield* client.query("GRANT SELECT ON owner_view, invoker_view TO turnvault_tenant")
      expect(
        yield* reader.withTenant("rls-a", (q) => tenantsSeen(q, "SELECT tenant_id FROM invoker_view"))
      ).toEqual(["rls-a"])
      yield* client.query("DROP VIEW owner_view, invoker_view")
      // and so the schema has no view that is not security_invoker
      const views = yield* client.query<{ relname: string }>(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'v'
           AND NOT coalesce('security_invoker=true' = ANY(c.reloptions), false)`
      )
      expect(views.rows).toEqual([])
    })
  )
})

describe("postgres client errors", () => {
  it("a client's error at any moment of its life is listened to: the process never crashes on it", async () => {
    const db = await freshDatabase()
    try {
      await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const pg = yield* makePgClient({ connectionString: db.url, max: 2 })
            // checked out and not inside pool.query: pg-pool itself listens to neither
            const client = yield* Effect.promise(() => pg.pool.connect())
            expect(() => client.emit("error", new Error("terminating connection"))).not.toThrow()
            client.release(true)
            // and given back, then taken again through pool.query
            yield* pg.query("SELECT 1")
          })
        )
      )
    } finally {
      await db.drop()
    }
  })
})
