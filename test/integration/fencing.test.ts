/**
 * One fencing protocol, the partition's claim (decision 0010): two instances share PostgreSQL and
 * take one partition in turn. A stale owner's batch, under its old claim, rolls back whole (none
 * of its outdated writes lands); a new owner starts from its predecessors' durable offset, and the
 * records below it are replayed (outputs re-published from the stores), never applied again.
 */
import { Effect, Exit, ManagedRuntime, Schema } from "effect"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FieldDefinitions, TurnEvent } from "../../schemas"
import { TurnStream } from "../../streams/TurnStream"
import { PgStoresLive } from "../../src/adapters/postgres"
import { PartitionOwnership } from "../../src/ports/PartitionOwnership"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { caseClosed, def, turn } from "../support/events"
import { embeddedPipeline } from "../support/pipeline"
import { freshDatabase, type TestDatabase } from "../support/postgres"

const decode = Schema.decodeUnknownSync(TurnEvent)
const defs = Schema.decodeUnknownSync(FieldDefinitions)([
  def("plan", "enum", "BUSINESS", { validation: { allowed_values: ["basic", "pro"] } }),
  def("ticket", "string", "CASE")
])
const TOPIC = "by-customer"
const GROUP = "fencing-group"

let db: TestDatabase
const instance = () =>
  ManagedRuntime.make(embeddedPipeline({}, PgStoresLive({ connectionString: db.url, max: 2 })))
type Instance = ReturnType<typeof instance>

/** Takes the partition (a rebalance handed it to this instance): a new claim. */
const claim = (runtime: Instance, partition = 0) =>
  runtime.runPromise(Effect.flatMap(PartitionOwnership, (o) => o.claim(GROUP, TOPIC, partition)))

type Claim = Awaited<ReturnType<typeof claim>>

/** Records at consecutive offsets from `first`, through the stream under `held`, as the Kafka stage runs them. */
const handle = (runtime: Instance, held: Claim, first: number, events: ReadonlyArray<TurnEvent>) =>
  runtime.runPromiseExit(
    Effect.flatMap(TurnStream, (stream) =>
      stream.handle(
        events.map((event, i) => ({
          topic: TOPIC,
          partition: held.partition,
          offset: String(first + i),
          key: "c1",
          value: Buffer.from(JSON.stringify(event))
        })),
        held.partition,
        { claim: held, offset: String(first + events.length) }
      )
    )
  )

const query = async (text: string) => {
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    return (await client.query(text)).rows
  } finally {
    await client.end()
  }
}
const stores = async () => ({
  profile: await query("SELECT value, status, source_item_id FROM profile_fields ORDER BY source_item_id"),
  sessions: await query("SELECT session_id, version, content_hash FROM sessions ORDER BY session_id"),
  records: await query("SELECT turn_id FROM turn_records ORDER BY turn_id")
})

beforeAll(async () => {
  db = await freshDatabase()
})
afterAll(async () => {
  await db?.drop()
})

describe("fencing by partition claim", () => {
  it("rolls back a stale owner's whole batch; a new owner replays what lies below the durable offset", async () => {
    const a = instance()
    const b = instance()
    try {
      await a.runPromise(Effect.flatMap(ProfileStore, (s) => s.upsertDefinitions(defs)))
      // the partition's records, offsets 0..3 (a redelivery is the same records again)
      const log = [
        decode(turn({ session: "s1", turn: 1, vars: { plan: "basic" } })),
        decode(turn({ session: "s2", turn: 1, vars: { plan: "pro" } })),
        decode(turn({ session: "s1", turn: 2, vars: { plan: "pro" } })),
        decode(turn({ session: "s3", turn: 1, vars: { plan: "basic" } }))
      ]
      // B owns the partition first and keeps s1's snapshot: plan = basic
      const first = await claim(b)
      expect(first.durableOffset).toBeNull()
      expect(Exit.isSuccess(await handle(b, first, 0, [log[0]!]))).toBe(true)

      // A takes the partition over from where B's durable writes end, and moves on
      const taken = await claim(a)
      expect(taken.durableOffset).toBe("1")
      const applied = await handle(a, taken, 1, [log[1]!, log[2]!])
      expect(Exit.isSuccess(applied) && applied.value.map((r) => r.kind)).toEqual(["applied", "applied"])
      const before = await stores()
      // A saw pro already active when s1 sent it: unchanged, no new row
      expect(before.profile.map((r) => [r.value, r.status])).toEqual([
        ["basic", "superseded"],
        ["pro", "active"]
      ])
      expect(before.records.map((r) => r.turn_id)).toEqual(["t1-s1-1", "t1-s1-2", "t1-s2-1"])

      // B, stale, delivers s1's turn 2 from its outdated snapshot (basic -> pro would be a change),
      // together with a turn nobody applied yet: the whole batch is refused
      const stale = await handle(b, first, 2, [log[2]!, log[3]!])
      expect(Exit.isFailure(stale) && JSON.stringify(stale.cause)).toContain("PartitionFenced")
      expect(await stores()).toEqual(before)

      // a rebalance gives B the partition back: the records below the durable offset are replayed
      const again = await claim(b)
      expect(again.durableOffset).toBe("3")
      const replay = await handle(b, again, 0, log)
      expect(Exit.isSuccess(replay) && replay.value.map((r) => r.kind)).toEqual([
        "duplicate",
        "duplicate",
        "duplicate",
        "applied"
      ])
      const after = await stores()
      expect(after.records.map((r) => r.turn_id)).toEqual(["t1-s1-1", "t1-s1-2", "t1-s2-1", "t1-s3-1"])
      expect(after.profile.map((r) => [r.value, r.status, r.source_item_id])).toEqual([
        ["basic", "superseded", "t1-s1-1"],
        ["pro", "superseded", "t1-s2-1"],
        ["basic", "active", "t1-s3-1"]
      ])
      expect(
        (await b.runPromise(Effect.flatMap(PartitionOwnership, (o) => o.load(GROUP, TOPIC, 0))))
          ?.durableOffset
      ).toBe("4")
    } finally {
      await a.dispose()
      await b.dispose()
    }
  })

  it("does not apply a case closure again when it is redelivered below the durable offset", async () => {
    const runtime = instance()
    try {
      await runtime.runPromise(Effect.flatMap(ProfileStore, (s) => s.upsertDefinitions(defs)))
      const log = [
        decode(turn({ customer: "c9", session: "k1", turn: 1, caseId: "case-1", vars: { ticket: "T-1" } })),
        decode(caseClosed({ customer: "c9", session: "k1", caseId: "case-1" })),
        decode(turn({ customer: "c9", session: "k1", turn: 2, caseId: "case-1", vars: { ticket: "T-2" } }))
      ]
      const tickets = () =>
        query("SELECT value, status FROM profile_fields WHERE customer_id = 'c9' ORDER BY source_item_id")
      const owner = await claim(runtime, 1)
      expect(Exit.isSuccess(await handle(runtime, owner, 0, log))).toBe(true)
      const first = await tickets()
      expect(first).toEqual([
        { value: "T-1", status: "expired" },
        { value: "T-2", status: "active" }
      ])
      // the batch was durable but not committed in Kafka (a crash): the next owner gets it again
      const next = await claim(runtime, 1)
      const replay = await handle(runtime, next, 0, log)
      expect(Exit.isSuccess(replay) && replay.value.map((r) => r.kind)).toEqual([
        "duplicate",
        "duplicate",
        "duplicate"
      ])
      expect(await tickets()).toEqual(first)
    } finally {
      await runtime.dispose()
    }
  })
})
