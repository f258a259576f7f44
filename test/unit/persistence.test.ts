/**
 * Persistence composition (DESIGN 4): the three writes are in flight together, one failing write
 * does not stop the others, and a turn is not acknowledged until the failed write succeeds.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option, Ref, Schema, TestClock } from "effect"
import { AuditStore } from "../../src/ports/AuditStore"
import {
  MemoryApiKeys,
  MemoryAuditStore,
  MemoryCheckpointStore,
  MemoryCustomerKeys,
  MemoryIngestionStore,
  MemoryJobLeases,
  MemoryPartitionOwnership,
  MemoryQuarantineStore,
  MemoryProfileStore,
  MemorySessionStore
} from "../../src/adapters/embedded"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { SessionStore, SessionStoreError } from "../../src/ports/SessionStore"
import { UnitOfWork } from "../../src/ports/UnitOfWork"
import { Metrics } from "../../src/observability/Metrics"
import { FieldDefinitions, TurnEvent } from "../../schemas"
import { def, turn } from "../support/events"
import { embeddedPipeline, processEvents, streamEvents } from "../support/pipeline"

interface Probe {
  readonly inFlight: Ref.Ref<number>
  readonly maxInFlight: Ref.Ref<number>
  /** Completed when all three operations have started at least once, concurrently. */
  readonly allStarted: Deferred.Deferred<void>
  readonly sessionDown: Ref.Ref<boolean>
  readonly sessionAttempts: Ref.Ref<number>
}

const makeProbe = Effect.gen(function* () {
  return {
    inFlight: yield* Ref.make(0),
    maxInFlight: yield* Ref.make(0),
    allStarted: yield* Deferred.make<void>(),
    sessionDown: yield* Ref.make(false),
    sessionAttempts: yield* Ref.make(0)
  } satisfies Probe
})

/** Wraps a write so the probe sees it in flight; `hold` keeps it open until all three overlap. */
const tracked = <A, E>(probe: Probe, hold: boolean, write: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const now = yield* Ref.updateAndGet(probe.inFlight, (n) => n + 1)
    yield* Ref.update(probe.maxInFlight, (m) => Math.max(m, now))
    if (now === 3) yield* Deferred.succeed(probe.allStarted, undefined)
    if (hold) yield* Deferred.await(probe.allStarted).pipe(Effect.timeout("300 millis"), Effect.ignore)
    return yield* write
  }).pipe(Effect.ensuring(Ref.update(probe.inFlight, (n) => n - 1)))

const instrumentedStores = (probe: Probe, hold: boolean) => {
  const base = Layer.mergeAll(MemorySessionStore.layer, MemoryProfileStore.layer, MemoryAuditStore.layer)
  const session = Layer.effect(
    SessionStore,
    Effect.map(SessionStore, (store) => ({
      ...store,
      save: (records: Parameters<typeof store.save>[0]) =>
        tracked(
          probe,
          hold,
          Effect.gen(function* () {
            yield* Ref.update(probe.sessionAttempts, (n) => n + 1)
            if (yield* Ref.get(probe.sessionDown)) {
              return yield* new SessionStoreError({ operation: "save", cause: "injected outage" })
            }
            return yield* store.save(records)
          })
        )
    }))
  )
  const profile = Layer.effect(
    ProfileStore,
    Effect.map(ProfileStore, (store) => ({
      ...store,
      applyOps: (ops: Parameters<typeof store.applyOps>[0]) => tracked(probe, hold, store.applyOps(ops))
    }))
  )
  const audit = Layer.effect(
    AuditStore,
    Effect.map(AuditStore, (store) => ({
      ...store,
      append: (...args: Parameters<typeof store.append>) => tracked(probe, hold, store.append(...args))
    }))
  )
  return Layer.mergeAll(session, profile, audit).pipe(
    Layer.provide(base),
    Layer.merge(UnitOfWork.passThrough),
    Layer.merge(MemoryPartitionOwnership.layer),
    Layer.merge(MemoryQuarantineStore.layer),
    Layer.merge(MemoryJobLeases.layer),
    Layer.merge(MemoryApiKeys.layer),
    Layer.merge(MemoryIngestionStore.layer),
    Layer.merge(MemoryCheckpointStore.layer),
    Layer.merge(MemoryCustomerKeys.layer(null))
  )
}

const defs = [def("plan", "enum", "BUSINESS", { validation: { allowed_values: ["basic", "pro"] } })]
const decode = Schema.decodeUnknownSync(TurnEvent)
const fast = { TURNVAULT_RETRY_BASE_MS: "2", TURNVAULT_RETRY_MAX_MS: "5", TURNVAULT_PAUSE_MS: "5" }

const withDefinitions = Effect.flatMap(ProfileStore, (store) =>
  store.upsertDefinitions(Schema.decodeUnknownSync(FieldDefinitions)(defs))
)
/** Moves the test clock on in 1 ms steps until `done` holds (at most ten simulated seconds). */
const advanceUntil = <E, R>(done: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 10_000 && !(yield* done); i++) yield* TestClock.adjust("1 millis")
    expect(yield* done).toBe(true)
  })

describe("persistence composition", () => {
  it.live("the three writes of a turn are in flight together", () =>
    Effect.gen(function* () {
      const probe = yield* makeProbe
      yield* Effect.gen(function* () {
        yield* withDefinitions
        yield* processEvents([decode(turn({ turn: 1, vars: { plan: "pro" } }))])
      }).pipe(Effect.provide(embeddedPipeline(fast, instrumentedStores(probe, true))))
      expect(yield* Ref.get(probe.maxInFlight)).toBe(3)
      expect(yield* Deferred.isDone(probe.allStarted)).toBe(true)
    })
  )

  it.live("sequential mode writes one operation at a time", () =>
    Effect.gen(function* () {
      const probe = yield* makeProbe
      yield* Effect.gen(function* () {
        yield* withDefinitions
        yield* processEvents([decode(turn({ turn: 1, vars: { plan: "pro" } }))])
      }).pipe(
        Effect.provide(
          embeddedPipeline(
            { ...fast, TURNVAULT_SEQUENTIAL_PERSISTENCE: "true" },
            instrumentedStores(probe, true)
          )
        )
      )
      expect(yield* Ref.get(probe.maxInFlight)).toBe(1)
    })
  )

  // TestClock: the bounded per-write retry and the stream's pause advance only as the test moves time.
  it.effect("a failing write does not stop the others, and the turn waits until it succeeds on retry", () =>
    Effect.gen(function* () {
      const probe = yield* makeProbe
      yield* Ref.set(probe.sessionDown, true)
      yield* Effect.gen(function* () {
        yield* withDefinitions
        // through the stream: its pause policy keeps retrying the same writes
        const fiber = yield* Effect.fork(streamEvents([decode(turn({ turn: 1, vars: { plan: "pro" } }))]))
        // The other two writes become durable while the session write keeps failing.
        const audit = yield* AuditStore
        const profiles = yield* ProfileStore
        yield* advanceUntil(Effect.map(audit.listRecords({}), (records) => records.length === 1))
        yield* advanceUntil(Effect.map(Ref.get(probe.sessionAttempts), (n) => n >= 8))
        expect(yield* profiles.list({})).toHaveLength(1)
        expect(yield* (yield* SessionStore).list({})).toHaveLength(0)
        expect(yield* Fiber.poll(fiber)).toMatchObject({ _tag: "None" })
        const metrics = yield* Metrics
        const failures = (yield* Effect.promise(() => metrics.persistenceOperations.get())).values
        expect(failures).toContainEqual(
          expect.objectContaining({ labels: { operation: "session", status: "failure" } })
        )
        yield* Ref.set(probe.sessionDown, false)
        yield* advanceUntil(Effect.map(Fiber.poll(fiber), Option.isSome))
        const results = yield* Fiber.join(fiber)
        expect(results[0]?.kind).toBe("applied")
        expect(yield* (yield* SessionStore).list({})).toHaveLength(1)
        // The retried batch wrote each record once.
        expect(yield* audit.listRecords({})).toHaveLength(1)
      }).pipe(Effect.provide(embeddedPipeline(fast, instrumentedStores(probe, false))))
    })
  )
})
