/**
 * TenantPool on real PostgreSQL: a request gets an idle connection of its own tenant first, a new
 * one while under the maximum, else the one idle longest, else waits for the next release (its own
 * tenant's first); an unhealthy or failed connection is closed and replaced.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeTenantPool, type TenantPool } from "../../src/adapters/postgres/TenantPool"
import { freshDatabase, type TestDatabase } from "../support/postgres"

let db: TestDatabase
const pools: Array<TenantPool> = []

beforeAll(async () => {
  db = await freshDatabase()
})

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()))
  await db?.drop()
})

const pool = (max: number) => {
  const made = makeTenantPool(db.url, max)
  pools.push(made)
  return made
}

/** Acquires for `tenant` and marks the connection bound to it, as TenantReader does. */
const take = async (p: TenantPool, tenant: string) => {
  const connection = await p.acquire(tenant)
  connection.tenant = tenant
  return connection
}

describe("TenantPool", () => {
  it("keeps each tenant on its own connections while there are enough", async () => {
    const p = pool(2)
    const a = await take(p, "a")
    p.release(a, true)
    // under the maximum: b gets a connection of its own rather than a's
    const b = await take(p, "b")
    expect(b.pid).not.toBe(a.pid)
    p.release(b, true)
    expect((await p.acquire("a")).pid).toBe(a.pid)
    expect(p.size()).toBe(2)
  })

  it("at the maximum hands the connection idle longest to another tenant, else makes it wait", async () => {
    const p = pool(2)
    const a = await take(p, "a")
    const b = await take(p, "b")
    p.release(a, true)
    p.release(b, true)
    // c: no connection of its own, none to open: a's has been idle longest
    const c = await take(p, "c")
    expect(c.pid).toBe(a.pid)
    const held = await p.acquire("b")
    expect(held.pid).toBe(b.pid)
    // both in use: the next acquires wait; a release goes to a waiter of its tenant first
    const waitingD = p.acquire("d")
    const waitingB = p.acquire("b")
    p.release(held, true)
    expect((await waitingB).pid).toBe(b.pid)
    p.release(c, true)
    expect((await waitingD).pid).toBe(a.pid)
    expect(p.size()).toBe(2)
  })

  it("closes an unhealthy or broken connection and opens a new one in its place", async () => {
    const p = pool(1)
    const first = await take(p, "a")
    p.release(first, false)
    expect(p.size()).toBe(0)
    const second = await take(p, "a")
    expect(second.pid).not.toBe(first.pid)
    // the server ends the backend while it is idle: the pool notices and replaces it
    p.release(second, true)
    const killer = await take(pool(1), "admin")
    await killer.client.query("SELECT pg_terminate_backend($1)", [second.pid])
    for (let i = 0; i < 50 && !second.broken; i++) await new Promise((r) => setTimeout(r, 20))
    expect(second.broken).toBe(true)
    const third = await p.acquire("a")
    expect(third.pid).not.toBe(second.pid)
    expect((await third.client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }])
  })

  it("fails waiting and later acquires once ended", async () => {
    const p = pool(1)
    const held = await p.acquire("a")
    const waiting = p.acquire("b")
    await p.end()
    await expect(waiting).rejects.toThrow("closed")
    await expect(p.acquire("a")).rejects.toThrow("closed")
    p.release(held, true)
    expect(p.size()).toBe(0)
  })
})
