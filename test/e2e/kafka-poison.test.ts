/**
 * Poison input on real Kafka and PostgreSQL, through a real `turnvault start`: every message the
 * stores could not hold or that cannot be trusted goes to the DLQ with its reason — its very bytes,
 * where it has any — and every good event behind it on the same input partition is processed.
 * The bad ones are the findings: a 5 MB event, bytes that are not UTF-8, a message keyed
 * otherwise than by its session_id (or not keyed), and nine schema-valid events PostgreSQL refuses.
 * A session whose writes PostgreSQL refuses for good is quarantined instead, and released by the
 * operator's command once the cause is fixed.
 */
import { Kafka, logLevel } from "kafkajs"
import pg from "pg"
import { afterAll, describe, expect, it } from "vitest"
import { def, turn } from "../support/events"
import type { TestDatabase } from "../support/postgres"
import { REFUSE_LISTED_SESSIONS } from "../support/quarantine"
import {
  handWrittenScenario,
  metricValue,
  runTurnvault,
  spawnTurnvault,
  type TurnvaultProcess,
  turnvault,
  uniqueName,
  waitGroupCaughtUp
} from "../support/turnvaultProcess"

const databases: Array<TestDatabase> = []
const children: Array<TurnvaultProcess> = []
afterAll(async () => {
  for (const child of children) await child.kill()
  for (const db of databases) await db.drop()
})

interface Message {
  readonly key: string | null
  readonly value: Buffer
}

const json = (event: object, key: string | null = (event as { session_id: string }).session_id): Message => ({
  key,
  value: Buffer.from(JSON.stringify(event))
})

/** `base` with the value at `path` replaced (an own property, whatever its name). */
const withField = (base: Record<string, any>, fieldPath: ReadonlyArray<string>, value: unknown) => {
  const copy = structuredClone(base)
  let node = copy
  for (const step of fieldPath.slice(0, -1)) node = node[step]
  Object.defineProperty(node, fieldPath[fieldPath.length - 1]!, {
    value,
    enumerable: true,
    writable: true,
    configurable: true
  })
  return copy
}

describe("poison input on Kafka", () => {
  it("each bad message goes to the DLQ with its reason, byte for byte; the partition goes on", async () => {
    const { brokers, database, dir, group, topics, env } = await handWrittenScenario(
      "poison",
      [def("note", "string", "BUSINESS")],
      { TURNVAULT_PARTITIONS: "2", TURNVAULT_READY_STALL_MS: "5000" }
    )
    databases.push(database)
    await turnvault(["topics", "ensure"], env)

    const kafka = new Kafka({ clientId: "poison-test", brokers: [brokers], logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    // The input topic is the producers' own: here it accepts what the stages downstream would refuse.
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: 2, // TOPIC
          name: topics.turnEvents,
          configEntries: [{ name: "max.message.bytes", value: String(8 * 1024 * 1024) }]
        }
      ]
    })

    const good = (session: string, n: number) =>
      turn({ session, customer: `cust-${session}`, turn: n, vars: { note: `${session}-${n}` } })
    const valid = good("bad", 1)
    const notUtf8 = (() => {
      const bytes = Buffer.from(JSON.stringify(good("utf", 1)))
      const at = bytes.indexOf(Buffer.from("hello"))
      return Buffer.concat([bytes.subarray(0, at), Buffer.from([0xc3, 0x28, 0xff]), bytes.subarray(at)])
    })()
    const long = "x".repeat(10_000)
    const refused: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
      ["NUL in a value", withField(valid, ["candidate_variables", "note", "value"], "a\u0000b")],
      ["NUL in a variable name", withField(valid, ["candidate_variables", "no\u0000te"], { value: "x" })],
      ["NUL in session_id", { ...valid, session_id: "bad\u0000" }],
      ["lone surrogate in a value", withField(valid, ["candidate_variables", "note", "value"], "x\ud800")],
      ["turn_number 2^31", { ...valid, turn_number: 2 ** 31 }],
      ["10 KB turn_id", { ...valid, turn_id: long }],
      ["10 KB session_id", { ...valid, session_id: long }],
      ["10 KB customer_id", { ...valid, customer_id: long }]
    ]
    // Text, not an object: JSON.stringify of 10,000 nested arrays would itself recurse that deep.
    const deepText = JSON.stringify(valid).replace(
      '"value":"bad-1"',
      `"value":${"[".repeat(10_000)}${"]".repeat(10_000)}`
    )
    const poison: ReadonlyArray<readonly [string, Message, string]> = [
      ["5 MB event", json({ ...good("big", 1), user_message: "m".repeat(5 * 1024 * 1024) }), "too_large"],
      ["not UTF-8", { key: "utf", value: notUtf8 }, "malformed_json"],
      ["keyed by another id", json(good("keyed", 1), "not-the-session"), "schema_violation"],
      ["no key", json(good("unkeyed", 1), null), "schema_violation"],
      ...refused.map(([label, event]) => [label, json(event, "bad"), "schema_violation"] as const),
      ["deep nesting", { key: "bad", value: Buffer.from(deepText) }, "schema_violation"]
    ]
    // Every message on input partition 0: one good event, the bad ones, then good events of each
    // session a bad one named (as turn 1: nothing of the bad ones counts).
    const behind = ["bad", "big", "utf", "keyed", "unkeyed"].map((s) => json(good(s, 1)))
    const messages = [json(good("fine", 1)), ...poison.map(([, m]) => m), ...behind, json(good("fine", 2))]
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    for (const m of messages)
      await producer.send({ topic: topics.turnEvents, messages: [{ ...m, partition: 0 }] })
    await producer.disconnect()

    const child = await spawnTurnvault({ name: "poison", dir, env })
    children.push(child)
    await child.waitHealthy()
    await waitGroupCaughtUp(brokers, group, [topics.turnEvents, topics.byCustomer], {
      timeoutMs: 120_000,
      describe: () => child.stderrPath
    })

    // every good event is stored, none of the bad ones
    const client = new pg.Client({ connectionString: database.url })
    await client.connect()
    const stored = (
      await client.query<{ session_id: string; turn_number: number }>(
        "SELECT session_id, turn_number FROM turn_records ORDER BY session_id, turn_number"
      )
    ).rows.map((r) => `${r.session_id}/${r.turn_number}`)
    await client.end()
    expect(stored).toEqual(["bad/1", "big/1", "fine/1", "fine/2", "keyed/1", "unkeyed/1", "utf/1"])

    // the DLQ holds each bad message once, with its reason, its original bytes and its origin
    const consumer = kafka.consumer({ groupId: uniqueName("poison-dlq") })
    await consumer.connect()
    await consumer.subscribe({ topic: topics.dlq, fromBeginning: true })
    const dead: Array<{ key: string | null; value: Buffer; headers: Record<string, string> }> = []
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`DLQ: ${dead.length} of ${poison.length}`)), 60_000)
      void consumer.run({
        eachMessage: async ({ message }) => {
          const headers = Object.fromEntries(
            Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])
          )
          dead.push({
            key: message.key?.toString() ?? null,
            value: message.value ?? Buffer.alloc(0),
            headers
          })
          if (dead.length === poison.length) {
            clearTimeout(timer)
            resolve()
          }
        }
      })
    })
    await consumer.disconnect()
    await admin.disconnect()
    const byOffset = [...dead].sort(
      (a, b) => Number(a.headers.source_offset) - Number(b.headers.source_offset)
    )
    expect(byOffset.map((d) => d.headers.reason)).toEqual(poison.map(([, , reason]) => reason))
    for (const [i, [label, message, reason]] of poison.entries()) {
      const letter = byOffset[i]!
      expect(letter.headers, label).toMatchObject({
        reason,
        source_topic: topics.turnEvents,
        source_partition: "0",
        source_offset: String(i + 1)
      })
      expect(letter.key, label).toBe(message.key)
      if (reason === "too_large") {
        expect(letter.value.length).toBe(0)
        expect(letter.headers.value_omitted).toBe("true")
        expect(letter.headers.detail).toBe(
          `event: ${message.value.length + Buffer.byteLength(message.key!)} bytes, more than the maximum of ${1024 * 1024}`
        )
      } else {
        expect(letter.value.equals(message.value), `${label}: the DLQ holds the original bytes`).toBe(true)
      }
    }
    const details = byOffset.map((d) => d.headers.detail)
    expect(details[1]).toBe("not valid UTF-8")
    expect(details[2]).toBe("key_mismatch: the message key is not the event's session_id")
    expect(details[3]).toBe("key_mismatch: the message has no key; producers key turn events by session_id")
    expect(details.slice(4)).toEqual([
      "candidate_variables.note.value: contains a NUL character (U+0000)",
      "candidate_variables: a property name contains a NUL character (U+0000)",
      "session_id: contains a NUL character (U+0000)",
      "candidate_variables.note.value: contains a lone UTF-16 surrogate",
      expect.stringMatching(/^turn_number: /),
      expect.stringMatching(/^turn_id: /),
      expect.stringMatching(/^session_id: /),
      expect.stringMatching(/^customer_id: /),
      expect.stringMatching(/nested deeper than 32 levels$/)
    ])

    const ready = await fetch(`http://127.0.0.1:${child.port}/readyz`)
    expect(ready.status).toBe(200)
    const verify = await runTurnvault(["verify"], { DATABASE_URL: database.url })
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
    expect(await child.stop()).toEqual({ code: 0, signal: null })
  })

  it("a session the database refuses for good is quarantined, the partition goes on, a release replays it", async () => {
    const { brokers, database, dir, group, topics, env } = await handWrittenScenario(
      "quarantine",
      [def("note", "string", "BUSINESS")],
      { TURNVAULT_PARTITIONS: "2", TURNVAULT_READY_STALL_MS: "5000" }
    )
    databases.push(database)
    const sql = async <R extends pg.QueryResultRow>(text: string, params: Array<unknown> = []) => {
      const client = new pg.Client({ connectionString: database.url })
      await client.connect()
      try {
        return (await client.query<R>(text, params)).rows
      } finally {
        await client.end()
      }
    }
    // What a value PostgreSQL cannot hold looks like to the stream: SQLSTATE 22023 on every try.
    await sql(REFUSE_LISTED_SESSIONS)
    await sql("INSERT INTO refused_sessions VALUES ('stuck')")
    await turnvault(["topics", "ensure"], env)

    const kafka = new Kafka({ clientId: "quarantine-test", brokers: [brokers], logLevel: logLevel.NOTHING })
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const send = (events: ReadonlyArray<Record<string, unknown>>) =>
      producer.send({
        topic: topics.turnEvents,
        messages: events.map((e) => ({ ...json(e), partition: 0 }))
      })
    // `stuck` shares its customer with `mate`; `other` is another customer: all on one partition
    const at = (session: string, customer: string, n: number) =>
      turn({ session, customer, turn: n, vars: { note: `${session}-${n}` } })
    const events = [1, 2, 3].flatMap((n) => [
      at("mate", "shared", n),
      at("stuck", "shared", n),
      at("other", "solo", n)
    ])
    await send(events)

    const child = await spawnTurnvault({ name: "quarantine", dir, env })
    children.push(child)
    await child.waitHealthy()
    const caughtUp = () =>
      waitGroupCaughtUp(brokers, group, [topics.turnEvents, topics.byCustomer], {
        timeoutMs: 120_000,
        describe: () => child.stderrPath
      })
    await caughtUp()
    const stored = async () =>
      (
        await sql<{ session_id: string; turn_number: number }>(
          "SELECT session_id, turn_number FROM turn_records ORDER BY session_id, turn_number"
        )
      ).map((r) => `${r.session_id}/${r.turn_number}`)
    expect(await stored()).toEqual(["mate/1", "mate/2", "mate/3", "other/1", "other/2", "other/3"])
    expect((await fetch(`http://127.0.0.1:${child.port}/readyz`)).status).toBe(200)
    const metrics = await (await fetch(`http://127.0.0.1:${child.port}/metrics`)).text()
    expect(metricValue(metrics, "turnvault_quarantined_sessions")).toBe(1)

    const list = JSON.parse((await turnvault(["quarantine", "list"], env)).stdout)
    expect(list).toEqual([
      expect.objectContaining({ tenant_id: "t1", session_id: "stuck", customer_id: "shared", events: 3 })
    ])
    expect(list[0].error).toBe("SQLSTATE 22023: value refused")
    expect(list[0].topic).toBe(topics.byCustomer)

    // a later turn of the session waits behind the parked ones; the others go on
    await send([at("stuck", "shared", 4), at("mate", "shared", 4)])
    await caughtUp()
    expect(await stored()).toContain("mate/4")
    const shown = JSON.parse(
      (await turnvault(["quarantine", "show", "--tenant", "t1", "--session", "stuck"], env)).stdout
    )
    expect(shown.map((e: { reason: string }) => e.reason)).toEqual([
      "store_refused",
      "session_quarantined",
      "session_quarantined",
      "session_quarantined"
    ])
    expect(shown[0].value).toBeUndefined()

    // the cause is fixed; the release goes through the partition's owner, in order
    await sql("DELETE FROM refused_sessions")
    const released = JSON.parse(
      (await turnvault(["quarantine", "release", "--tenant", "t1", "--session", "stuck"], env)).stdout
    )
    expect(released).toMatchObject({ action: "release", events: 4, topic: topics.byCustomer })
    await producer.disconnect()
    await caughtUp()
    expect((await stored()).filter((s) => s.startsWith("stuck/"))).toEqual([
      "stuck/1",
      "stuck/2",
      "stuck/3",
      "stuck/4"
    ])
    expect(JSON.parse((await turnvault(["quarantine", "list"], env)).stdout)).toEqual([])
    const verify = await runTurnvault(["verify"], { DATABASE_URL: database.url })
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
    expect(await child.stop()).toEqual({ code: 0, signal: null })
  }, 240_000)
})
