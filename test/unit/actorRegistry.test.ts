/** Session actors: activation loads once, idle and excess actors are passivated, ends passivate. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Ref, Schema } from "effect"
import { TurnEvent } from "../../schemas"
import { ActorRegistry } from "../../src/sessions/ActorRegistry"
import { MemoryStoresLive } from "../../src/adapters/embedded"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { SessionStore } from "../../src/ports/SessionStore"
import { ended, turn } from "../support/events"
import { embeddedPipeline, processEvents } from "../support/pipeline"

const decode = Schema.decodeUnknownSync(TurnEvent)
const ref = (session: string) => ({ tenant_id: "t1", session_id: session, customer_id: "c1", agent_id: "a1" })

/** Memory stores whose session loads are counted. */
const countingStores = (loads: Ref.Ref<number>) =>
  Layer.effect(
    SessionStore,
    Effect.map(SessionStore, (store) => ({
      ...store,
      load: (tenantId: string, sessionId: string) =>
        Ref.update(loads, (n) => n + 1).pipe(Effect.zipRight(store.load(tenantId, sessionId))),
      loadMany: (ids: Parameters<typeof store.loadMany>[0]) =>
        Ref.update(loads, (n) => n + ids.length).pipe(Effect.zipRight(store.loadMany(ids)))
    }))
  ).pipe(Layer.provideMerge(MemoryStoresLive))

describe("ActorRegistry", () => {
  it.effect("loads a session's snapshot once, however many events it gets", () =>
    Effect.gen(function* () {
      const loads = yield* Ref.make(0)
      yield* Effect.gen(function* () {
        for (let n = 1; n <= 5; n++) yield* processEvents([decode(turn({ turn: n }))])
        expect(yield* Ref.get(loads)).toBe(1)
        expect((yield* ActorRegistry).size()).toBe(1)
      }).pipe(Effect.provide(embeddedPipeline({}, countingStores(loads))))
    })
  )

  it.effect("activates a batch's sessions with one session load and one load of their customers", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make<Array<string>>([])
      const note = (call: string) => Ref.update(calls, (list) => [...list, call])
      const counted = Layer.effect(
        ProfileStore,
        Effect.map(ProfileStore, (store) => ({
          ...store,
          loadCustomer: (t: string, c: string, h: number) =>
            note("loadCustomer").pipe(Effect.zipRight(store.loadCustomer(t, c, h))),
          loadCustomers: (cs: Parameters<typeof store.loadCustomers>[0], h: number) =>
            note(`loadCustomers:${cs.length}`).pipe(Effect.zipRight(store.loadCustomers(cs, h)))
        }))
      ).pipe(
        Layer.provideMerge(
          Layer.effect(
            SessionStore,
            Effect.map(SessionStore, (store) => ({
              ...store,
              load: (t: string, s: string) => note("load").pipe(Effect.zipRight(store.load(t, s))),
              loadMany: (ids: Parameters<typeof store.loadMany>[0]) =>
                note(`loadMany:${ids.length}`).pipe(Effect.zipRight(store.loadMany(ids)))
            }))
          ).pipe(Layer.provideMerge(MemoryStoresLive))
        )
      )
      yield* Effect.gen(function* () {
        const registry = yield* ActorRegistry
        // five sessions of three customers, one session named twice
        const refs = ["s1", "s2", "s3", "s4", "s5", "s1"].map((s, i) => ({
          ...ref(s),
          customer_id: `c${i % 3}`
        }))
        yield* registry.activate(refs, 0)
        expect(yield* Ref.get(calls)).toEqual(["loadMany:5", "loadCustomers:3"])
        expect(registry.size()).toBe(5)
        expect(registry.customerCount()).toBe(3)
        // resident sessions and customers are not loaded again
        yield* registry.activate([...refs, { ...ref("s6"), customer_id: "c1" }], 0)
        expect(yield* Ref.get(calls)).toEqual(["loadMany:5", "loadCustomers:3", "loadMany:1"])
        expect(registry.customerCount()).toBe(3)
      }).pipe(Effect.provide(embeddedPipeline({}, counted)))
    })
  )

  it.effect("passivates idle actors and keeps at most maxActors resident", () =>
    Effect.gen(function* () {
      const registry = yield* ActorRegistry
      yield* registry.activate(
        Array.from({ length: 10 }, (_, i) => ref(`s${i}`)),
        0
      )
      expect(registry.size()).toBe(10)
      yield* registry.get(ref("s3"), 50_000)
      // over capacity (4): the least recently used go first, s3 (just used) stays
      expect(yield* registry.reap(60_000)).toBe(6)
      expect(registry.size()).toBe(4)
      expect(yield* registry.reap(50_000 + 100_000)).toBe(4)
      expect(registry.size()).toBe(0)
      expect(registry.customerCount()).toBe(0)
    }).pipe(
      Effect.provide(embeddedPipeline({ TURNVAULT_ACTOR_IDLE_MS: "100000", TURNVAULT_MAX_ACTORS: "4" }))
    )
  )

  it.effect("an ended session's actor is passivated; its state reloads from the store", () =>
    Effect.gen(function* () {
      const registry = yield* ActorRegistry
      yield* processEvents([decode(turn({ turn: 1 })), decode(turn({ session: "s2", turn: 1 }))])
      expect(registry.size()).toBe(2)
      yield* processEvents([decode(ended({}))])
      expect(registry.size()).toBe(1)
      const [result] = yield* processEvents([decode(turn({ turn: 2 }))])
      expect(result?.kind).toBe("applied")
      const stored = yield* (yield* SessionStore).load("t1", "s1")
      expect(stored?.state).toMatchObject({ status: "ACTIVE", turn_count: 2 })
    }).pipe(Effect.provide(embeddedPipeline()))
  )
})
