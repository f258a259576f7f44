/**
 * Quarantine on the embedded pipeline (in-memory stores): a session whose apply fails with a
 * defect is isolated and its events parked; an operator's control message drops it exactly where
 * it stands in the partition. The in-memory stores have no atomic unit of work: a write they
 * refuse is retried as before (test/integration/quarantine.test.ts covers refusals on PostgreSQL).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TurnStream } from "../../streams/TurnStream"
import { topicNames } from "../../streams/topics"
import { MemoryStoresLive } from "../../src/adapters/embedded"
import { InProcessLog } from "../../src/adapters/embedded/InProcessLog"
import { AuditStore } from "../../src/ports/AuditStore"
import type { SourceRecord } from "../../src/ports/EventSource"
import { testPartition } from "../support/quarantine"
import { QuarantineStore } from "../../src/ports/QuarantineStore"
import { SessionStore } from "../../src/ports/SessionStore"
import { turn } from "../support/events"
import { embeddedPipeline } from "../support/pipeline"

const fast = { TURNVAULT_RETRY_BASE_MS: "1", TURNVAULT_RETRY_MAX_MS: "2", TURNVAULT_PAUSE_MS: "2" }
const dlqTopic = topicNames("turnvault.").dlq

/** Memory stores whose session look-up dies (a defect: a bug in one code path) for a session in `crashing`. */
const faultyStores = (crashing: ReadonlySet<string> = new Set()) =>
  Layer.mergeAll(
    Layer.effect(
      SessionStore,
      Effect.map(SessionStore, (store) => ({
        ...store,
        loadMany: (ids: Parameters<typeof store.loadMany>[0]) =>
          ids.some((id) => crashing.has(id.session_id))
            ? Effect.die(new TypeError("a bug"))
            : store.loadMany(ids)
      }))
    )
  ).pipe(Layer.provideMerge(MemoryStoresLive))

const { event: record, control: controlOf } = testPartition()
const control = (action: string, sessionId: string) => controlOf(action, "t1", sessionId)

const handle = (records: ReadonlyArray<SourceRecord>) =>
  Effect.flatMap(TurnStream, (stream) => stream.handle(records, 0))

const recordedTurns = (session: string) =>
  Effect.map(
    Effect.flatMap(AuditStore, (audit) => audit.listRecords({ tenantId: "t1", sessionId: session })),
    (records) => records.map((r) => r.turn_number)
  )

describe("quarantine", () => {
  it.live(
    "a defect in one session's apply quarantines that session; a drop sends its events to the DLQ",
    () =>
      Effect.gen(function* () {
        yield* Effect.gen(function* () {
          const quarantine = yield* QuarantineStore
          const log = yield* InProcessLog
          const boom = record(turn({ session: "boom", turn: 1 }))
          const results = yield* handle([record(turn({ session: "s1", turn: 1 })), boom])
          expect(results.map((r) => r.kind)).toEqual(["applied", "quarantined"])
          const [parked] = yield* quarantine.events("t1", "boom")
          expect(parked).toMatchObject({ reason: "apply_failed", status: "parked" })
          expect(parked?.error).toContain("TypeError: a bug")

          // a second event of the session, parked in the same batch as the drop that follows it
          const second = record(turn({ session: "boom", turn: 2 }))
          yield* handle([second, control("drop", "boom")])
          const dropped = log.all(dlqTopic).filter((m) => m.headers?.reason === "operator_dropped")
          expect(dropped.map((m) => Buffer.from(m.value).toString())).toEqual([
            boom.value.toString(),
            second.value.toString()
          ])
          expect(yield* quarantine.sessions({})).toEqual([])
          expect(yield* recordedTurns("boom")).toEqual([])
        }).pipe(Effect.provide(embeddedPipeline(fast, faultyStores(new Set(["boom"])))))
      })
  )

  it.live("a malformed control message is dead-lettered, not carried out", () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        const log = yield* InProcessLog
        yield* handle([{ ...control("resume", "x") }])
        expect(log.all(dlqTopic).map((m) => m.headers?.reason)).toEqual(["schema_violation"])
      }).pipe(Effect.provide(embeddedPipeline(fast, faultyStores())))
    })
  )
})
