/**
 * Erasure in the middle of a Kafka stream (issue 16): `turnvault start` on Kafka, PostgreSQL and
 * Redis with TURNVAULT_KEK consumes a seeded workload. Halfway through, `turnvault erase` erases
 * 100 customers while the second half is being consumed. Afterwards:
 * - no plaintext of a PII value is in a pg_dump of the database, in any Redis key or value, in
 *   the topics turnvault writes, or in turnvault's logs;
 * - every row of an erased customer tombstoned by the erasure reads as null;
 * - every other customer's sessions, profile rows and turn records equal `process` of the same
 *   file (the reference, run in the clear);
 * - verify, with the erasure receipts and the signed checkpoints written throughout, finds nothing
 *   wrong.
 *
 * Not scanned: the input topic and the internal by-customer topic (they hold the producer's events
 * as sent) and the DLQ (it keeps malformed events byte for byte, for replay; decision 0019).
 */
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { newKeyPair } from "../../src/domain/checkpoint"
import { waitFor } from "../support/child"
import { kcatConsume, kcatProduce, requireKcat } from "../support/kcat"
import type { TestDatabase } from "../support/postgres"
import {
  compareExports,
  groupPosition,
  kafkaAdmin,
  prepareScenario,
  readExport,
  type StoreExport,
  spawnTurnvault,
  type TurnvaultProcess,
  turnvault,
  waitGroupCaughtUp
} from "../support/turnvaultProcess"

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const ERASED = 100
const PII_FIELDS = new Set(["full_name", "email", "phone", "birth_date"])
/**
 * The synthetic traffic's PII values (src/dev/SyntheticTraffic.ts) as they may be stored: raw,
 * trimmed and lower-cased, and phone digits. None is a base64 run, so ciphertext cannot hold one.
 */
const PII_TEXTS = [
  "Ada Lovelace",
  "Alan Turing",
  "Grace Hopper",
  "Edsger Dijkstra",
  "ada@example.com",
  "alan@example.org",
  "Alan@Example.org",
  "grace@navy.mil",
  "1815-12-10",
  "1912-06-23",
  "1906-12-09",
  "7946 0958",
  "2079460958",
  "555-0100",
  "4155550100",
  "23.45.67.89",
  "33123456789"
]
const found = (text: string) => PII_TEXTS.filter((value) => text.includes(value))

let db: TestDatabase | undefined
let child: TurnvaultProcess | undefined

beforeAll(() => requireKcat())
afterAll(async () => {
  await child?.kill()
  await db?.drop()
})

const redisText = async (prefix: string) => {
  const redis = new Redis(REDIS_URL)
  try {
    const parts: Array<string> = []
    let cursor = "0"
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000)
      cursor = next
      for (const key of keys) {
        const type = await redis.type(key)
        if (type === "string") parts.push(key, (await redis.get(key)) ?? "")
        else if (type === "hash") parts.push(key, JSON.stringify(await redis.hgetall(key)))
        else parts.push(key)
      }
    } while (cursor !== "0")
    return { keys: parts.length, text: parts.join("\n") }
  } finally {
    redis.disconnect()
  }
}

/** Only the rows of customers not erased. */
const without = (exported: StoreExport, erased: ReadonlySet<string>): StoreExport => {
  const kept = (row: Record<string, any>) => !erased.has(`${row.tenant_id}\u0000${row.customer_id}`)
  return {
    ...exported,
    sessions: exported.sessions.filter(kept),
    profile: exported.profile.filter(kept),
    records: exported.records.filter(kept)
  }
}

describe("erasure in the middle of a Kafka stream", () => {
  it("100 customers erased while their events stream: nothing of their PII opens; the others equal a clean run", async () => {
    const cachePrefix = `erase-${randomBytes(3).toString("hex")}:`
    const kek = randomBytes(32).toString("base64")
    const scenario = await prepareScenario({
      name: "erase",
      seed: 4_242,
      count: 4_000,
      extra: {
        TURNVAULT_PARTITIONS: "4",
        TURNVAULT_KEK: kek,
        TURNVAULT_KEY_CACHE_TTL_MS: "500",
        TURNVAULT_CHECKPOINT_KEY: newKeyPair().private_key,
        TURNVAULT_CHECKPOINT_INTERVAL_MS: "2000",
        REDIS_URL,
        TURNVAULT_CACHE_KEY_PREFIX: cachePrefix
      }
    })
    db = scenario.database
    const { brokers, dir, workload, group, topics, env } = scenario
    const total = workload.lines.length
    const half = Math.floor(total / 2)

    // the customers to erase: the first 100 to give a PII value in the first half
    const erasedByTenant = new Map<string, Array<string>>()
    const erased = new Set<string>()
    for (const line of workload.lines.slice(0, half)) {
      if (erased.size === ERASED) break
      let event: Record<string, any>
      try {
        event = JSON.parse(line.value)
      } catch {
        continue
      }
      const names = Object.keys(event.candidate_variables ?? {})
      const id = `${event.tenant_id}\u0000${event.customer_id}`
      if (typeof event.customer_id !== "string" || erased.has(id) || !names.some((n) => PII_FIELDS.has(n)))
        continue
      erased.add(id)
      erasedByTenant.set(event.tenant_id, [...(erasedByTenant.get(event.tenant_id) ?? []), event.customer_id])
    }
    expect(erased.size).toBe(ERASED)

    child = await spawnTurnvault({ name: "erase", dir, env })
    await child.waitHealthy()
    const { admin } = await kafkaAdmin(brokers)
    try {
      await kcatProduce(brokers, topics.turnEvents, workload.lines.slice(0, half), { partition: 0 })
      await waitFor(
        "the first half durable",
        async () =>
          (await groupPosition(admin, group, topics.byCustomer)).committed >= Math.floor(half * 0.9)
            ? true
            : undefined,
        { timeoutMs: 120_000, intervalMs: 200 }
      )
      // the second half streams while the erasures run
      const rest = kcatProduce(brokers, topics.turnEvents, workload.lines.slice(half), { partition: 0 })
      for (const [tenant, customers] of erasedByTenant) {
        const file = join(dir, `erase-${tenant}.txt`)
        await writeFile(file, `${customers.join("\n")}\n`)
        const run = await turnvault(
          ["erase", "--tenant", tenant, "--customers", file, "--by", "dpo@example.com"],
          env,
          { timeoutMs: 120_000 }
        )
        expect(run.stdout.trim().split("\n")).toHaveLength(customers.length)
      }
      await rest
      await waitGroupCaughtUp(brokers, group, [topics.turnEvents, topics.byCustomer], {
        exact: true,
        timeoutMs: 150_000,
        describe: () => `logs: ${dir}`
      })
    } finally {
      await admin.disconnect()
    }
    // the tenant's admin API reads values opened: an erased customer's erased rows as null, the
    // others' PII values as they were sent (not their sealed form)
    const [tenant, erasedIds] = [...erasedByTenant][0]!
    const created = await turnvault(["keys", "create", "--tenant", tenant], env)
    const { token } = JSON.parse(created.stdout.trim().split("\n").pop()!) as { token: string }
    const fieldsOf = async (customer: string) => {
      const response = await fetch(
        `http://127.0.0.1:${child!.port}/v1/customers/${customer}/fields?history=true`,
        {
          headers: { authorization: `Bearer ${token}` }
        }
      )
      expect(response.status).toBe(200)
      return ((await response.json()) as { fields: Array<Record<string, any>> }).fields
    }
    const erasedRows = (await fieldsOf(erasedIds[0]!)).filter(
      (f) => PII_FIELDS.has(f.name) && f.status === "deleted"
    )
    expect(erasedRows.length).toBeGreaterThan(0)
    expect(erasedRows.filter((f) => f.value !== null)).toEqual([])
    const kept = workload.lines
      .map((line) => {
        try {
          return JSON.parse(line.value) as Record<string, any>
        } catch {
          return {}
        }
      })
      .find(
        (e) =>
          e.tenant_id === tenant &&
          typeof e.customer_id === "string" &&
          !erased.has(`${tenant}\u0000${e.customer_id}`) &&
          Object.keys(e.candidate_variables ?? {}).some((n) => PII_FIELDS.has(n))
      )!
    const keptRows = (await fieldsOf(kept.customer_id)).filter(
      (f) => PII_FIELDS.has(f.name) && f.status === "active"
    )
    expect(keptRows.length).toBeGreaterThan(0)
    expect(keptRows.filter((f) => typeof f.value !== "string")).toEqual([])

    expect(await child.stop()).toMatchObject({ code: 0 })

    // no plaintext anywhere turnvault keeps or writes
    const dump = spawnSync("pg_dump", ["--data-only", scenario.database.url], {
      encoding: "utf8",
      maxBuffer: 1 << 29
    })
    expect(dump.status, dump.stderr).toBe(0)
    expect(found(dump.stdout)).toEqual([])
    const redis = await redisText(cachePrefix)
    expect(redis.keys).toBeGreaterThan(0)
    expect(found(redis.text)).toEqual([])
    for (const topic of [topics.memoryIngestion, topics.turnRecords, topics.telemetry, topics.erasures]) {
      const messages = await kcatConsume(brokers, topic)
      expect(found(messages.map((m) => `${m.key}\n${m.payload}`).join("\n")), topic).toEqual([])
    }
    const erasures = await kcatConsume(brokers, topics.erasures)
    expect(new Set(erasures.map((m) => m.key))).toHaveProperty("size", ERASED)
    const logs = `${await readFile(child.stdoutPath, "utf8")}\n${await readFile(child.stderrPath, "utf8")}`
    expect(found(logs)).toEqual([])

    // what the erasures tombstoned never opens again; the others equal the clean run
    const out = join(dir, "export")
    await turnvault(["export", "--export", out], env, { timeoutMs: 120_000 })
    const actual = await readExport(out)
    const tombstoned = actual.profile.filter(
      (row) =>
        erased.has(`${row.tenant_id}\u0000${row.customer_id}`) &&
        PII_FIELDS.has(row.name) &&
        row.status === "deleted"
    )
    expect(tombstoned.length).toBeGreaterThanOrEqual(ERASED)
    expect(tombstoned.filter((row) => row.value !== null)).toEqual([])
    const reference = await scenario.referencePromise
    expect(compareExports(without(reference, erased), without(actual, erased))).toBe("")
    // positive controls: the scan finds the values where they are in the clear, and the reference
    // holds the erased customers' values: the rows were there to erase
    expect(found(JSON.stringify(reference.profile)).length).toBeGreaterThan(5)
    expect(
      reference.profile.filter(
        (row) => erased.has(`${row.tenant_id}\u0000${row.customer_id}`) && PII_FIELDS.has(row.name)
      ).length
    ).toBeGreaterThanOrEqual(ERASED)

    // every chain and every signed checkpoint, written before and after the erasures, still holds
    const verify = JSON.parse((await turnvault(["verify", "--checkpoints"], env)).stdout)
    expect(verify.broken).toEqual([])
    expect(verify.erasures).toEqual({ receipts: ERASED, broken: [] })
    expect(verify.checkpoints.checked).toBeGreaterThan(1)
    expect(verify.checkpoints.broken).toEqual([])
  }, 400_000)
})
