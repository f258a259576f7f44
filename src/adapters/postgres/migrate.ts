/**
 * Schema migrations (node-pg-migrate, plain `.sql` files in `migrations/` with `-- Up Migration` and
 * `-- Down Migration` sections, so no TypeScript build is needed). Applied names are kept in
 * `pgmigrations`; node-pg-migrate holds an advisory lock while it runs, and an instance that finds
 * it taken waits for it (then finds nothing left to run), so instances may start together.
 */
import { installPath } from "../../config/installRoot"
import { Data, Effect } from "effect"
import { runner } from "node-pg-migrate"
import pg from "pg"

export const migrationsDir = installPath("migrations")
const migrationsTable = "pgmigrations"

export class MigrationError extends Data.TaggedError("MigrationError")<{
  readonly operation: "up" | "down" | "status"
  readonly cause: unknown
}> {}

export interface MigrationStatus {
  readonly applied: ReadonlyArray<string>
  readonly pending: ReadonlyArray<string>
}

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

const run = (databaseUrl: string, direction: "up" | "down", count: number, dryRun: boolean) =>
  runner({
    databaseUrl,
    dir: migrationsDir,
    migrationsTable,
    direction,
    count,
    dryRun,
    checkOrder: true,
    singleTransaction: true,
    // Instances started together queue on the advisory lock; the default ("fail") made one exit.
    advisoryLockMode: "wait",
    logger: quiet
  })

/** Runs `count` migrations (all when omitted) up or down; returns the names that ran, in order. */
export const runMigrations = (databaseUrl: string, direction: "up" | "down", count?: number) =>
  Effect.tryPromise({
    try: () => run(databaseUrl, direction, count ?? Number.POSITIVE_INFINITY, false),
    catch: (cause) => new MigrationError({ operation: direction, cause })
  }).pipe(
    Effect.map((ran) => ran.map((migration) => migration.name)),
    Effect.withSpan("migrate.runMigrations", { attributes: { direction } })
  )

const statusError = (cause: unknown) => new MigrationError({ operation: "status", cause })

const appliedNames = (databaseUrl: string) =>
  Effect.acquireUseRelease(
    Effect.tryPromise({
      try: async () => {
        const client = new pg.Client({ connectionString: databaseUrl })
        await client.connect()
        return client
      },
      catch: statusError
    }),
    (client) =>
      Effect.tryPromise({
        try: () => client.query<{ name: string }>(`SELECT name FROM ${migrationsTable} ORDER BY run_on, id`),
        catch: statusError
      }).pipe(
        Effect.map((result) => result.rows.map((row) => row.name)),
        // No table yet: nothing applied.
        Effect.catchIf(
          (error) => (error.cause as { code?: string } | undefined)?.code === "42P01",
          () => Effect.succeed([])
        )
      ),
    (client) => Effect.promise(() => client.end())
  )

/** Which migrations are applied and which would run on `up`. */
export const migrationStatus = (databaseUrl: string) =>
  Effect.all({
    applied: appliedNames(databaseUrl),
    pending: Effect.tryPromise({
      try: () => run(databaseUrl, "up", Number.POSITIVE_INFINITY, true),
      catch: statusError
    }).pipe(Effect.map((ran) => ran.map((migration) => migration.name)))
  })
