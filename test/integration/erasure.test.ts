/**
 * Crypto-shredding erasure on the real services (issue 16, decision 0019): `process` runs turns
 * carrying distinctive PII values through PostgreSQL and Redis with TURNVAULT_KEK set; no
 * plaintext of them is at rest (a pg_dump of the database, every Redis key and value), while the
 * CLI above the stores still reads them. `turnvault erase` then destroys one customer's keys:
 * its values read as null, the others' are unchanged, its receipt verifies, the erasure is on
 * `turnvault.erasures` without a value, and the customer's next value gets a fresh key.
 */
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runCli } from "../support/cli"
import { def, turn } from "../support/events"
import { ensureKafka } from "../support/kafka"
import { kcatConsume, requireKcat } from "../support/kcat"
import { freshDatabase, queryRows, type TestDatabase } from "../support/postgres"

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const marker = `zqseal${randomBytes(4).toString("hex")}`
const tenant = `erase-${randomBytes(3).toString("hex")}`
const prefix = `erase-${randomBytes(3).toString("hex")}.`
const kek = randomBytes(32).toString("base64")
const customers = ["c1", "c2", "c3"]
const emailOf = (customer: string, n = 1) => `${marker}-${customer}-${n}@example.com`
const nameOf = (customer: string) => `${marker} ${customer} Lovelace`

const definitions = [
  def("email", "email", "IDENTITY", { is_pii: true }),
  def("full_name", "string", "IDENTITY", { is_pii: true }),
  def("plan", "enum", "BUSINESS", { validation: { allowed_values: ["basic", "pro"] } })
].map((d) => ({ ...d, tenant_id: tenant }))

let db: TestDatabase
let dir: string
let brokers: string
let env: Record<string, string>

const cli = async (args: ReadonlyArray<string>, extra: Record<string, string> = {}) => {
  const run = await runCli(args, { ...env, ...extra })
  expect(run.code, `${args.join(" ")}: ${run.stderr}`).toBe(0)
  return run.stdout
}

const processLines = async (name: string, events: ReadonlyArray<unknown>) => {
  const input = join(dir, `${name}.jsonl`)
  await writeFile(input, `${events.map((e) => JSON.stringify(e)).join("\n")}\n`)
  await cli([
    "process",
    "--definitions",
    join(dir, "defs.json"),
    "--input",
    input,
    "--export",
    join(dir, name)
  ])
}

const pgDump = () => {
  const dump = spawnSync("pg_dump", ["--data-only", db.url], { encoding: "utf8", maxBuffer: 1 << 28 })
  expect(dump.status, dump.stderr).toBe(0)
  return dump.stdout
}

/** Every key and value in Redis, as text. */
const redisText = async () => {
  const redis = new Redis(REDIS_URL)
  try {
    const parts: Array<string> = []
    let cursor = "0"
    do {
      const [next, keys] = await redis.scan(cursor, "COUNT", 1000)
      cursor = next
      for (const key of keys) {
        const type = await redis.type(key)
        const value =
          type === "string"
            ? await redis.get(key)
            : type === "hash"
              ? JSON.stringify(await redis.hgetall(key))
              : type === "set"
                ? JSON.stringify(await redis.smembers(key))
                : type === "list"
                  ? JSON.stringify(await redis.lrange(key, 0, -1))
                  : ""
        parts.push(key, value ?? "")
      }
    } while (cursor !== "0")
    return parts.join("\n")
  } finally {
    redis.disconnect()
  }
}

const emailHistory = async (customer: string) =>
  (
    await cli([
      "items",
      "history",
      "--tenant",
      tenant,
      "--customer",
      customer,
      "--field",
      "email",
      "--values"
    ])
  )
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { value: unknown; status: string })

beforeAll(async () => {
  requireKcat()
  brokers = await ensureKafka()
  db = await freshDatabase({ migrate: false })
  dir = await mkdtemp(join(tmpdir(), "turnvault-erasure-"))
  await writeFile(join(dir, "defs.json"), JSON.stringify(definitions))
  env = {
    DATABASE_URL: db.url,
    REDIS_URL,
    KAFKA_BROKERS: brokers,
    TURNVAULT_TOPIC_PREFIX: prefix,
    TURNVAULT_KEK: kek,
    TURNVAULT_PARTITIONS: "2"
  }
  await cli(["topics", "ensure"])
  const events = customers.flatMap((customer) =>
    [1, 2, 3].map((n) =>
      turn({
        tenant,
        customer,
        session: `${customer}-s1`,
        turn: n,
        vars:
          n === 1 ? { email: emailOf(customer), full_name: nameOf(customer), plan: "pro" } : { plan: "basic" }
      })
    )
  )
  await processLines("first", events)
}, 600_000)

afterAll(async () => {
  await db?.drop()
})

describe("PII sealed at rest, erasure by crypto-shredding", () => {
  it("no plaintext of a PII value in PostgreSQL or Redis, while the CLI reads it", async () => {
    expect(pgDump()).not.toContain(marker)
    expect(await redisText()).not.toContain(marker)
    for (const customer of customers)
      expect((await emailHistory(customer)).map((r) => r.value)).toEqual([emailOf(customer)])
    // positive control: the rows are there, sealed
    const rows = await queryRows<{ value: { $sealed?: string } }>(
      db.url,
      `SELECT value FROM profile_fields WHERE tenant_id = '${tenant}' AND name = 'email'`
    )
    expect(rows.map((r) => r.value.$sealed)).toEqual(["v1", "v1", "v1"])
  }, 120_000)

  it("erase: the customer's values never open again, the others' do; a receipt, an event, a fresh key", async () => {
    const erased = JSON.parse(
      await cli(["erase", "--tenant", tenant, "--customer", "c1", "--by", "dpo@example.com"])
    )
    expect(erased).toMatchObject({
      event_type: "customer.erased",
      tenant_id: tenant,
      customer_id: "c1",
      receipt_seq: 1,
      key_versions: [1]
    })
    expect(erased.rows_tombstoned).toBeGreaterThanOrEqual(3)
    expect(await emailHistory("c1")).toEqual([expect.objectContaining({ value: null, status: "deleted" })])
    expect((await emailHistory("c2")).map((r) => [r.value, r.status])).toEqual([[emailOf("c2"), "active"]])
    const keys = await queryRows<{ customer_id: string; destroyed: boolean }>(
      db.url,
      `SELECT customer_id, wrapped IS NULL AS destroyed FROM customer_keys WHERE tenant_id = '${tenant}' ORDER BY 1`
    )
    expect(keys).toEqual([
      { customer_id: "c1", destroyed: true },
      { customer_id: "c2", destroyed: false },
      { customer_id: "c3", destroyed: false }
    ])
    const published = await kcatConsume(brokers, `${prefix}erasures`)
    expect(published.map((m) => JSON.parse(m.payload ?? "{}").customer_id)).toEqual(["c1"])
    expect(published[0]!.key).toBe(JSON.stringify([tenant, "c1"]))
    expect(JSON.stringify(published)).not.toContain(marker)
    const verify = JSON.parse(await cli(["verify", "--tenant", tenant]))
    expect(verify.broken).toEqual([])
    expect(verify.erasures).toEqual({ receipts: 1, broken: [] })

    // the customer comes back: its next value is sealed under a fresh key and opens
    await processLines("after", [
      turn({ tenant, customer: "c1", session: "c1-s1", turn: 4, vars: { email: emailOf("c1", 2) } })
    ])
    expect((await emailHistory("c1")).map((r) => r.value)).toEqual([emailOf("c1", 2), null])
    expect(
      (
        await queryRows<{ version: number }>(
          db.url,
          `SELECT version FROM customer_keys WHERE tenant_id = '${tenant}' AND customer_id = 'c1' AND wrapped IS NOT NULL`
        )
      ).map((r) => r.version)
    ).toEqual([2])
    expect(pgDump()).not.toContain(marker)
  }, 180_000)
})
