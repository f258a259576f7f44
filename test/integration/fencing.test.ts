/**
 * A stale owner (an instance that kept a session's actor while another instance advanced it) is
 * fenced: in PostgreSQL its whole batch rolls back, so none of its outdated writes lands, and its
 * retry recomputes from the stores (DESIGN 4; issue: Kafka, item 7).
 */
import { Effect, Exit, ManagedRuntime, Schema } from "effect"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FieldDefinitions, TurnEvent } from "../../schemas"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { PgStoresLive } from "../../src/adapters/postgres"
import { def, turn } from "../support/events"
import { embeddedPipeline, processEvents } from "../support/pipeline"
import { freshDatabase, type TestDatabase } from "../support/postgres"

const decode = Schema.decodeUnknownSync(TurnEvent)
const defs = Schema.decodeUnknownSync(FieldDefinitions)([
  def("plan", "enum", "BUSINESS", { validation: { allowed_values: ["basic", "pro"] } })
])

let db: TestDatabase
const instance = () =>
  ManagedRuntime.make(embeddedPipeline({}, PgStoresLive({ connectionString: db.url, max: 2 })))
type Instance = ReturnType<typeof instance>
const processOn = (runtime: Instance, event: object) => runtime.runPromiseExit(processEvents([decode(event)]))
const profileRows = async () => {
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    return (
      await client.query("SELECT value, status, source_item_id FROM profile_fields ORDER BY source_item_id")
    ).rows
  } finally {
    await client.end()
  }
}

beforeAll(async () => {
  db = await freshDatabase()
})
afterAll(async () => {
  await db?.drop()
})

describe("fencing a stale session owner", () => {
  it("rolls back the stale owner's batch, then its retry sees the turn as already applied", async () => {
    const a = instance()
    const b = instance()
    try {
      await a.runPromise(Effect.flatMap(ProfileStore, (s) => s.upsertDefinitions(defs)))
      // B owns s1 first and holds its snapshot: plan = basic
      expect(
        Exit.isSuccess(await processOn(b, turn({ session: "s1", turn: 1, vars: { plan: "basic" } })))
      ).toBe(true)
      // the customer's other session, on A, sets pro; then A takes s1 over and applies turn 2
      await processOn(a, turn({ session: "s2", turn: 1, vars: { plan: "pro" } }))
      const applied = await processOn(a, turn({ session: "s1", turn: 2, vars: { plan: "pro" } }))
      expect(Exit.isSuccess(applied)).toBe(true)
      const before = await profileRows()
      // A saw pro already active: unchanged, no new row
      expect(before.map((r) => [r.value, r.status])).toEqual([
        ["basic", "superseded"],
        ["pro", "active"]
      ])

      // B, stale, delivers the same turn from its outdated snapshot (basic -> pro would be a change)
      const stale = await processOn(b, turn({ session: "s1", turn: 2, vars: { plan: "pro" } }))
      expect(Exit.isFailure(stale) && JSON.stringify(stale.cause)).toContain("SessionsFenced")
      expect(await profileRows()).toEqual(before)

      // its retry reloads from the stores: the turn is a duplicate, nothing changes
      const retried = await processOn(b, turn({ session: "s1", turn: 2, vars: { plan: "pro" } }))
      expect(Exit.isSuccess(retried) && retried.value[0]?.kind).toBe("duplicate")
      expect(await profileRows()).toEqual(before)
    } finally {
      await a.dispose()
      await b.dispose()
    }
  })
})
