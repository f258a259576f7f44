/**
 * The tenant path's connection pool (TenantReader): like pg.Pool, but a connection remembers the
 * tenant it is bound to, and a request gets an idle connection of its own tenant first. Moving a
 * connection to another tenant costs a reset and a new binding (two round trips), so with a few
 * busy tenants each keeps its connections and pays nothing; with more tenants than connections it
 * degrades to what a plain pool costs. A connection that fails, or that a caller reports unhealthy,
 * is closed and the pool opens a new one when asked.
 */
import pg from "pg"

/** A pooled connection: its client, its backend pid, and the tenant it is bound to (null: none yet). */
export interface TenantConnection {
  readonly client: pg.Client
  readonly pid: number
  tenant: string | null
  /** Nothing has run on it yet (no reset needed before its first binding). */
  fresh: boolean
  /** Set by the client's error event: the connection is closed and never handed out again. */
  broken: boolean
}

export interface TenantPool {
  /**
   * An idle connection bound to `tenant` if there is one; else a new connection while under the
   * maximum; else the idle connection unused longest; else the next one released.
   */
  readonly acquire: (tenant: string) => Promise<TenantConnection>
  /** Gives a connection back; an unhealthy one is closed. */
  readonly release: (connection: TenantConnection, healthy: boolean) => void
  /** Closes every connection; waiting and later acquires fail. */
  readonly end: () => Promise<void>
  /** Open connections (idle and in use). */
  readonly size: () => number
}

interface Waiter {
  readonly tenant: string
  readonly resolve: (connection: TenantConnection) => void
  readonly reject: (error: unknown) => void
}

export const makeTenantPool = (connectionString: string, max: number): TenantPool => {
  /** Idle connections, the one released last at the end. */
  const idle: Array<TenantConnection> = []
  const waiting: Array<Waiter> = []
  let open = 0
  let ended = false

  const connect = async (): Promise<TenantConnection> => {
    open++
    const client = new pg.Client({ connectionString })
    try {
      await client.connect()
      const found = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")
      const connection: TenantConnection = {
        client,
        pid: found.rows[0]!.pid,
        tenant: null,
        fresh: true,
        broken: false
      }
      client.on("error", () => {
        connection.broken = true
      })
      return connection
    } catch (error) {
      open--
      client.end().catch(() => {})
      throw error
    }
  }

  const close = (connection: TenantConnection) => {
    open--
    connection.client.end().catch(() => {})
  }

  const acquire = (tenant: string): Promise<TenantConnection> => {
    if (ended) return Promise.reject(new Error("the tenant pool is closed"))
    for (let i = idle.length - 1; i >= 0; i--) {
      if (idle[i]!.broken) close(idle.splice(i, 1)[0]!)
    }
    for (let i = idle.length - 1; i >= 0; i--) {
      if (idle[i]!.tenant === tenant) return Promise.resolve(idle.splice(i, 1)[0]!)
    }
    if (open < max) return connect()
    const oldest = idle.shift()
    if (oldest !== undefined) return Promise.resolve(oldest)
    return new Promise((resolve, reject) => waiting.push({ tenant, resolve, reject }))
  }

  const release = (connection: TenantConnection, healthy: boolean) => {
    if (!healthy || connection.broken || ended) {
      close(connection)
      // the freed slot goes to the oldest waiter as a new connection
      const next = waiting.shift()
      if (next !== undefined) connect().then(next.resolve, next.reject)
      return
    }
    const same = waiting.findIndex((w) => w.tenant === connection.tenant)
    const next = same >= 0 ? waiting.splice(same, 1)[0] : waiting.shift()
    if (next !== undefined) next.resolve(connection)
    else idle.push(connection)
  }

  const end = async () => {
    ended = true
    for (const waiter of waiting.splice(0)) waiter.reject(new Error("the tenant pool is closed"))
    await Promise.all(
      idle.splice(0).map((connection) => {
        open--
        return connection.client.end().catch(() => {})
      })
    )
  }

  return { acquire, release, end, size: () => open }
}
