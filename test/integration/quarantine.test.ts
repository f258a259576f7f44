/**
 * Quarantine on PostgreSQL: a session whose writes the database refuses for good (here a trigger
 * raising SQLSTATE 22023 for the sessions listed in `refused_sessions`, as it would for a value it
 * cannot hold) is isolated: its events are parked in `quarantined_events`, in order, with their
 * bytes; every other session of the batch and of the partition is durable; a release replays the
 * parked events in order exactly where the control message stands. A batch started while an
 * earlier one was being isolated is applied again on the isolated state before it completes.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TurnStream } from "../../streams/TurnStream"
import { embeddedLogLayer } from "../../src/app/layers"
import pg from "pg"
import { PgStoresLive } from "../../src/adapters/postgres"
import { AuditStore } from "../../src/ports/AuditStore"
import { EventSource, type SourceRecord, type StartedBatch } from "../../src/ports/EventSource"
import { QuarantineStore } from "../../src/ports/QuarantineStore"
import { PartitionOwnership } from "../../src/ports/PartitionOwnership"
import { InProcessLog } from "../../src/adapters/embedded/InProcessLog"
import { topicNames } from "../../streams/topics"
import { turn } from "../support/events"
import { pipelineOn } from "../support/pipeline"
import { freshDatabase } from "../support/postgres"
import { REFUSE_LISTED_SESSIONS, testPartition } from "../support/quarantine"

const fast = { TURNVAULT_RETRY_BASE_MS: "1", TURNVAULT_RETRY_MAX_MS: "2", TURNVAULT_PAUSE_MS: "2" }

let databaseUrl = ""

/** Runs SQL as the test, beside the service's pool. */
const sql = (text: string, params: Array<unknown> = []) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: databaseUrl })
    await client.connect()
    try {
      await client.query(text, params)
    } finally {
      await client.end()
    }
  })

const stores = Layer.unwrapScoped(
  Effect.gen(function* () {
    const db = yield* Effect.acquireRelease(
      Effect.promise(() => freshDatabase()),
      (db) => Effect.promise(() => db.drop())
    )
    databaseUrl = db.url
    yield* sql(REFUSE_LISTED_SESSIONS)
    return PgStoresLive({ connectionString: db.url, max: 4 })
  })
)

const { event: record, control } = testPartition()
const release = (tenant: string, session: string) => control("release", tenant, session)

const refuse = (...sessions: Array<string>) =>
  Effect.zipRight(
    sql("DELETE FROM refused_sessions"),
    Effect.forEach(sessions, (s) => sql("INSERT INTO refused_sessions VALUES ($1)", [s]))
  )

const turnsOf = (tenant: string, session: string) =>
  Effect.map(
    Effect.flatMap(AuditStore, (audit) => audit.listRecords({ tenantId: tenant, sessionId: session })),
    (records) => records.map((r) => r.turn_number)
  )

/** A source that starts every batch before it completes the first: the stream's pipelining, pushed. */
const startAllFirst = (batches: ReadonlyArray<ReadonlyArray<SourceRecord>>) =>
  Layer.succeed(
    EventSource,
    EventSource.of({
      run: (handler) =>
        Effect.gen(function* () {
          const started: Array<StartedBatch<never>> = []
          for (const records of batches)
            started.push(
              (yield* handler.onBatch({
                topic: "test",
                partition: 0,
                records,
                commit: Effect.void,
                settled: Effect.void
              })) as StartedBatch<never>
            )
          for (const batch of started) yield* batch.complete
        })
    })
  )

layer(pipelineOn(embeddedLogLayer, fast, stores), { timeout: "60 seconds", excludeTestServices: true })(
  "quarantine on PostgreSQL",
  (it) => {
    it.effect(
      "a refused session is parked in order, the others are durable, a release replays it in place",
      () =>
        Effect.gen(function* () {
          const stream = yield* TurnStream
          const quarantine = yield* QuarantineStore
          const t = "t-refused"
          yield* refuse("bad")
          const first = [
            record(turn({ tenant: t, session: "s1", turn: 1 })),
            record(turn({ tenant: t, session: "bad", turn: 1 })),
            record(turn({ tenant: t, session: "s2", turn: 1, customer: "c2" })),
            record(turn({ tenant: t, session: "bad", turn: 2 })),
            record(turn({ tenant: t, session: "s1", turn: 2 }))
          ]
          const results = yield* stream.handle(first, 0)
          expect(results.map((r) => r.kind)).toEqual([
            "applied",
            "quarantined",
            "applied",
            "quarantined",
            "applied"
          ])
          expect(yield* turnsOf(t, "s1")).toEqual([1, 2])
          expect(yield* turnsOf(t, "s2")).toEqual([1])
          expect(yield* turnsOf(t, "bad")).toEqual([])
          const [session] = yield* quarantine.sessions({ tenantId: t })
          expect(session).toMatchObject({ session_id: "bad", events: 2, reason: "store_refused" })
          expect(session?.error).toContain("SQLSTATE 22023: value refused")
          const parked = yield* quarantine.events(t, "bad")
          expect(parked.map((p) => [p.offset, p.reason])).toEqual([
            [first[1]!.offset, "store_refused"],
            [first[3]!.offset, "session_quarantined"]
          ])
          expect(parked[0]!.value.equals(first[1]!.value)).toBe(true)

          // the session's later events wait behind the parked ones, without being tried
          const later = yield* stream.handle(
            [
              record(turn({ tenant: t, session: "bad", turn: 3 })),
              record(turn({ tenant: t, session: "s1", turn: 3 }))
            ],
            0
          )
          expect(later.map((r) => r.kind)).toEqual(["applied"])
          expect((yield* quarantine.events(t, "bad")).length).toBe(3)

          // fixed: the release applies turns 1 to 3 in order, then the session's next turn
          yield* refuse()
          const control = release(t, "bad")
          yield* stream.handle([control, record(turn({ tenant: t, session: "bad", turn: 4 }))], 0)
          expect(yield* turnsOf(t, "bad")).toEqual([1, 2, 3, 4])
          expect(yield* quarantine.sessions({ tenantId: t })).toEqual([])
          expect((yield* quarantine.events(t, "bad")).map((p) => [p.status, p.resolved_by])).toEqual(
            Array.from({ length: 3 }, () => ["released", `test/0/${control.offset}`])
          )
        })
    )

    it.effect(
      "a batch started before an earlier one was isolated is applied again on the isolated state",
      () =>
        Effect.gen(function* () {
          const stream = yield* TurnStream
          const quarantine = yield* QuarantineStore
          const t = "t-pipelined"
          yield* refuse("bad")
          const batches = [
            [
              record(turn({ tenant: t, session: "s1", turn: 1 })),
              record(turn({ tenant: t, session: "bad", turn: 1 }))
            ],
            [
              record(turn({ tenant: t, session: "bad", turn: 2 })),
              record(turn({ tenant: t, session: "s1", turn: 2 }))
            ]
          ]
          yield* stream.run({ repartition: false, fence: false }).pipe(Effect.provide(startAllFirst(batches)))
          expect(yield* turnsOf(t, "s1")).toEqual([1, 2])
          // applied on the state batch 1 left in memory, bad's turn 2 would have been refused as a late
          // turn (out of order, to the DLQ): applied again, it waits behind turn 1
          expect((yield* quarantine.events(t, "bad")).map((p) => p.reason)).toEqual([
            "store_refused",
            "session_quarantined"
          ])
          yield* refuse()
        })
    )

    it.effect(
      "a release whose events fail again parks them again; replayed, it neither applies nor dead-letters them",
      () =>
        Effect.gen(function* () {
          const stream = yield* TurnStream
          const quarantine = yield* QuarantineStore
          const ownership = yield* PartitionOwnership
          const log = yield* InProcessLog
          const t = "t-again"
          const group = `g-${Date.now()}`
          yield* refuse("again")
          const after = (records: ReadonlyArray<SourceRecord>) => String(Number(records.at(-1)!.offset) + 1)
          const claim = yield* ownership.claim(group, "test", 0)
          const first = [record(turn({ tenant: t, session: "again", turn: 1 }))]
          yield* stream.handle(first, 0, { claim, offset: after(first) })
          // released while the cause is not fixed: parked again, in the same transaction as the release
          const releasing = [release(t, "again")]
          yield* stream.handle(releasing, 0, { claim, offset: after(releasing) })
          expect((yield* quarantine.events(t, "again")).map((r) => r.status)).toEqual(["released", "parked"])
          // a crash before Kafka's commit: the next owner gets the release again, below the durable offset
          const next = yield* ownership.claim(group, "test", 0)
          expect(next.durableOffset).toBe(after(releasing))
          const dead = () => log.all(topicNames("turnvault.").dlq).length
          const before = dead()
          yield* stream.handle(releasing, 0, { claim: next, offset: after(releasing) })
          expect(dead()).toBe(before)
          expect(yield* turnsOf(t, "again")).toEqual([])
          expect((yield* quarantine.events(t, "again")).map((r) => r.status)).toEqual(["released", "parked"])
          yield* refuse()
        })
    )
  }
)
