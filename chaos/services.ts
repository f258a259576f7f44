/**
 * The fault suite's own services, on ports of their own, so it can stop and start them without
 * touching the machine's shared ones: a PostgreSQL cluster made with initdb, a Kafka broker from
 * scripts/kafka/up.sh, and a redis-server. Each can be stopped and started again on the same port
 * with its data (Redis keeps none: a restarted cache node comes back empty).
 */
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { chown, mkdtemp, readdir, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { promisify } from "node:util"
import { freePort, sleep } from "../test/support/child"
import { type RedisServerProcess, redisServerProcess } from "../test/support/redis"

const repoRoot = path.resolve(import.meta.dirname, "..")

const exec = promisify(execFile)

export interface Service {
  readonly stop: () => Promise<void>
  readonly start: () => Promise<void>
}

/** The directory of PostgreSQL's server programs (Debian keeps them out of PATH). */
const postgresBin = async () => {
  const root = "/usr/lib/postgresql"
  if (existsSync(root)) {
    const versions = (await readdir(root)).sort((a, b) => Number(b) - Number(a))
    for (const version of versions) {
      const bin = path.join(root, version, "bin")
      if (existsSync(path.join(bin, "initdb"))) return bin
    }
  }
  return path.dirname((await exec("sh", ["-c", "command -v initdb"])).stdout.trim())
}

/** PostgreSQL refuses to run as root: as root, its programs run as the `postgres` user. */
const asPostgres = (program: string, args: ReadonlyArray<string>) =>
  process.getuid?.() === 0
    ? exec("runuser", ["-u", "postgres", "--", program, ...args])
    : exec(program, [...args])

export interface PrivatePostgres extends Service {
  readonly adminUrl: string
  /**
   * Ends the connections of `database` (not this one): with `justCommitted`, only those that went
   * idle in the last 50 ms, i.e. right after a COMMIT; else all of them, mid-transaction or not.
   */
  readonly terminateBackends: (database: string, justCommitted: boolean) => Promise<number>
  readonly destroy: () => Promise<void>
}

export const privatePostgres = async (): Promise<PrivatePostgres> => {
  const bin = await postgresBin()
  const dir = await mkdtemp(path.join(tmpdir(), "turnvault-chaos-pg-"))
  if (process.getuid?.() === 0) {
    const { stdout } = await exec("id", ["-u", "postgres"])
    const { stdout: gid } = await exec("id", ["-g", "postgres"])
    await chown(dir, Number(stdout.trim()), Number(gid.trim()))
  }
  const data = path.join(dir, "data")
  const port = await freePort()
  await asPostgres(path.join(bin, "initdb"), [
    "-D",
    data,
    "-A",
    "trust",
    "-U",
    "postgres",
    "-E",
    "UTF8",
    "--no-sync"
  ])
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`
  const ctl = (...args: Array<string>) => asPostgres(path.join(bin, "pg_ctl"), ["-D", data, ...args])
  const start = async () => {
    await ctl("-l", path.join(dir, "server.log"), "-o", options, "-w", "start")
  }
  const stop = async () => {
    await ctl("-m", "fast", "-w", "stop")
  }
  await start()
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`
  const terminateBackends = async (database: string, justCommitted: boolean) => {
    const pg = (await import("pg")).default
    const client = new pg.Client({ connectionString: adminUrl })
    await client.connect()
    try {
      const result = await client.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()
           AND (NOT $2 OR (state = 'idle' AND state_change > now() - interval '50 milliseconds'))`,
        [database, justCommitted]
      )
      return result.rowCount ?? 0
    } finally {
      await client.end()
    }
  }
  const destroy = async () => {
    await stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
  return { adminUrl, start, stop, terminateBackends, destroy }
}

export interface PrivateKafka extends Service {
  readonly brokers: string
  readonly destroy: () => Promise<void>
}

const kafkaScript = (script: "up.sh" | "down.sh", port: number, controller: number) =>
  exec("bash", [path.join(repoRoot, "scripts", "kafka", script)], {
    cwd: repoRoot,
    env: {
      ...process.env,
      KAFKA_PORT: String(port),
      KAFKA_CONTROLLER_PORT: String(controller),
      // a restart keeps the topics and offsets
      KAFKA_KEEP_DATA: "1"
    },
    timeout: 600_000,
    maxBuffer: 16 * 1024 * 1024
  })

export const privateKafka = async (): Promise<PrivateKafka> => {
  const port = await freePort()
  let controller = await freePort()
  while (controller === port) controller = await freePort()
  const start = async () => {
    await kafkaScript("up.sh", port, controller)
  }
  const pidFile = path.join(repoRoot, ".kafka", String(port), "kafka.pid")
  /** SIGTERM (a controlled shutdown), keeping the data for the next start. */
  const stop = async () => {
    const pid = Number((await readFile(pidFile, "utf8")).trim())
    process.kill(pid, "SIGTERM")
    for (let i = 0; i < 300; i++) {
      try {
        process.kill(pid, 0)
      } catch {
        return
      }
      await sleep(100)
    }
    process.kill(pid, "SIGKILL")
  }
  await start()
  return {
    brokers: `127.0.0.1:${port}`,
    start,
    stop,
    destroy: async () => {
      await kafkaScript("down.sh", port, controller).catch(() => {})
    }
  }
}

export const privateRedis = async (): Promise<RedisServerProcess> => {
  const redis = await redisServerProcess()
  await redis.start()
  return redis
}
