/**
 * A throwaway PostgreSQL database per test file, migrated up. The admin URL comes from
 * TEST_DATABASE_ADMIN_URL (default: the local server's `test` database as `postgres`, trust auth).
 */
import { randomBytes } from "node:crypto"
import { Effect } from "effect"
import pg from "pg"
import { runMigrations } from "../../src/adapters/postgres/migrate"
import { sleep } from "./child"

export const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/test"

export interface TestDatabase {
  readonly name: string
  readonly url: string
  readonly drop: () => Promise<void>
}

const withAdmin = async <A>(use: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    return await use(client)
  } finally {
    await client.end()
  }
}

const urlFor = (name: string) => {
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** Roles are cluster-wide: two databases migrating at once may race creating them, so retry once. */
const migrateUp = async (url: string, attempts = 3): Promise<void> => {
  try {
    await Effect.runPromise(runMigrations(url, "up"))
  } catch (error) {
    if (attempts <= 1) throw error
    await sleep(100)
    await migrateUp(url, attempts - 1)
  }
}

/** Creates `turnvault_test_<random>`; migrates it up unless `migrate: false`. */
export const freshDatabase = async (options: { readonly migrate?: boolean } = {}): Promise<TestDatabase> => {
  const name = `turnvault_test_${randomBytes(6).toString("hex")}`
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`))
  const url = urlFor(name)
  // A client that is still closing when FORCE ends its backend gets an error it may have no
  // listener for (a library's own client, e.g. node-pg-migrate's): wait up to 2 s for the
  // database's connections to go away by themselves, then force what is left.
  const drop = () =>
    withAdmin(async (client) => {
      for (let i = 0; i < 40; i++) {
        const left = await client.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1",
          [name]
        )
        if (left.rows[0]!.n === 0) break
        await sleep(50)
      }
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    }).then(() => {})
  if (options.migrate !== false) {
    await migrateUp(url).catch(async (error) => {
      await drop()
      throw error
    })
  }
  return { name, url, drop }
}

/** The rows of one query on `url`, on a connection of its own. */
export const queryRows = async <R extends pg.QueryResultRow>(url: string, sql: string): Promise<Array<R>> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<R>(sql)).rows
  } finally {
    await client.end()
  }
}
