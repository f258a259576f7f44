/**
 * The background jobs' schedule, in simulated time (TestClock): once per tick of each interval,
 * one instance per tick, failures counted and survived, and expired values leaving the resident
 * snapshots of every instance.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schema, TestClock } from "effect"
import { FieldDefinitions, TurnEvent } from "../../schemas"
import { MemoryStoresLive } from "../../src/adapters/embedded"
import { type JobSchedulerConfig, runSchedules, runSnapshotSweeps } from "../../src/jobs/JobScheduler"
import { Metrics } from "../../src/observability/Metrics"
import { JobLeaseError, JobLeases } from "../../src/ports/JobLeases"
import { ProfileStore, ProfileStoreError } from "../../src/ports/ProfileStore"
import { ItemChanges } from "../../src/ports/ItemChanges"
import { ActorRegistry, makeActorRegistry } from "../../src/sessions/ActorRegistry"
import { ItemsForget } from "../../src/sessions/ItemsForget"
import { profileField } from "../contract/fixtures"
import { def, turn } from "../support/events"
import { embeddedPipeline, processEvents } from "../support/pipeline"

const MINUTE = 60_000
const schedule = (instance: string): JobSchedulerConfig => ({
  instance,
  intervalsMs: { expire: 5 * MINUTE, orphans: 15 * MINUTE }
})
const registryConfig = {
  idleTimeoutMs: 60 * MINUTE,
  maxActors: 100,
  definitionsTtlMs: 60 * MINUTE,
  maxHistory: 10
}
const stores = Layer.mergeAll(MemoryStoresLive, Metrics.layerTest, ItemChanges.local)

/** Wires the scope's ItemChanges to `registry`, as `turnvault start` does (ItemsForget). */
const forgetOn = (registry: ActorRegistry["Type"]) =>
  Layer.build(ItemsForget).pipe(Effect.provideService(ActorRegistry, registry))
const session = (id: string) => ({ tenant_id: "t1", session_id: id, customer_id: "cust-1", agent_id: "a1" })

const counter = (name: string, labels: Record<string, string>) =>
  Effect.flatMap(Metrics, (metrics) =>
    Effect.promise(async () => {
      const metric = await metrics.registry.getSingleMetric(name)?.get()
      const match = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
      return match?.value ?? 0
    })
  )

/** Moves simulated time on by `ms` and lets the woken job fibers finish their (in-memory) work. */
const advance = (ms: number) => TestClock.adjust(ms).pipe(Effect.zipRight(Effect.sleep(0)))

describe("JobScheduler", () => {
  it.scoped("runs each job at once, then once per tick of its interval, on the tick boundaries", () =>
    Effect.gen(function* () {
      const registry = yield* makeActorRegistry(registryConfig)
      const leases = yield* JobLeases
      yield* Effect.forkScoped(
        runSchedules(schedule("a")).pipe(Effect.provideService(ActorRegistry, registry))
      )
      yield* advance(1)
      expect((yield* leases.list("expire")).map((run) => run.tick)).toEqual([0])
      expect((yield* leases.list("orphans")).map((run) => run.tick)).toEqual([0])
      yield* advance(5 * MINUTE - 2)
      expect((yield* leases.list("expire")).map((run) => run.tick)).toEqual([0])
      yield* advance(1)
      expect((yield* leases.list("expire")).map((run) => run.tick)).toEqual([0, 1])
      yield* advance(10 * MINUTE)
      expect((yield* leases.list("expire")).map((run) => run.tick)).toEqual([0, 1, 2, 3])
      expect((yield* leases.list("orphans")).map((run) => run.tick)).toEqual([0, 1])
      expect((yield* leases.list("expire")).every((run) => run.status === "ok" && run.instance === "a")).toBe(
        true
      )
      expect(yield* counter("turnvault_job_runs_total", { job: "expire", status: "ok" })).toBe(4)
      expect(yield* counter("turnvault_job_runs_total", { job: "orphans", status: "ok" })).toBe(2)
      expect(yield* counter("turnvault_job_last_success_timestamp_seconds", { job: "expire" })).toBe(900)
    }).pipe(Effect.provide(stores))
  )

  it.scoped("the orphan job publishes the vault's derivation depths, deeper ones as 5+", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const at = "1970-01-01T00:00:00Z"
      // a chain of six: depth 1 (from a turn), then 2 .. 6
      const chain = [
        profileField({ tenant: "t1", name: "f0", value: 0, at, turn: "t0", derivedFrom: "turn:t0" })
      ]
      for (let i = 1; i < 6; i++)
        chain.push(
          profileField({
            tenant: "t1",
            name: `f${i}`,
            value: i,
            at,
            turn: `t${i}`,
            derivedFrom: chain[i - 1]!.id
          })
        )
      yield* store.writeFields(chain)
      const registry = yield* makeActorRegistry(registryConfig)
      yield* Effect.forkScoped(
        runSchedules(schedule("a")).pipe(Effect.provideService(ActorRegistry, registry))
      )
      yield* advance(1)
      const depth = (label: string) => counter("turnvault_derivation_items", { depth: label })
      expect([
        yield* depth("1"),
        yield* depth("2"),
        yield* depth("3"),
        yield* depth("4"),
        yield* depth("5+")
      ]).toEqual([1, 1, 1, 1, 2])
    }).pipe(Effect.provide(stores))
  )

  it.scoped("two instances: each tick runs on one of them, the other counts it skipped", () =>
    Effect.gen(function* () {
      const leases = yield* JobLeases
      for (const instance of ["a", "b"]) {
        const registry = yield* makeActorRegistry(registryConfig)
        yield* Effect.forkScoped(
          runSchedules(schedule(instance)).pipe(Effect.provideService(ActorRegistry, registry))
        )
      }
      yield* advance(1)
      yield* advance(30 * MINUTE)
      expect((yield* leases.list("expire")).map((run) => run.tick)).toEqual([0, 1, 2, 3, 4, 5, 6])
      expect(yield* counter("turnvault_job_runs_total", { job: "expire", status: "ok" })).toBe(7)
      expect(yield* counter("turnvault_job_runs_total", { job: "expire", status: "skipped" })).toBe(7)
      expect(yield* counter("turnvault_job_runs_total", { job: "orphans", status: "skipped" })).toBe(3)
    }).pipe(Effect.provide(stores))
  )

  it.scoped("an expired field leaves the store's active set and the snapshots of both instances", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      yield* store.writeFields([
        profileField({
          tenant: "t1",
          name: "otp",
          value: "123",
          at: "1970-01-01T00:00:00Z",
          turn: "t1",
          expiresAt: "1970-01-01T00:07:00Z"
        }),
        profileField({ tenant: "t1", name: "name", value: "Ada", at: "1970-01-01T00:00:00Z", turn: "t1" })
      ])
      // instance b holds the customer's actor; instance a wins every tick (it starts first)
      const a = yield* makeActorRegistry(registryConfig)
      const b = yield* makeActorRegistry(registryConfig)
      yield* b.activate([session("s1")], 0)
      const snapshot = (yield* b.get(session("s1"), 0)).customer
      expect([...snapshot.profile.keys()].sort()).toEqual(["name", "otp"])
      yield* Effect.forkScoped(runSchedules(schedule("a")).pipe(Effect.provideService(ActorRegistry, a)))
      yield* advance(1)
      yield* Effect.forkScoped(runSchedules(schedule("b")).pipe(Effect.provideService(ActorRegistry, b)))
      yield* advance(5 * MINUTE)
      // 00:05: not yet past expires_at
      expect([...snapshot.profile.keys()].sort()).toEqual(["name", "otp"])
      yield* advance(5 * MINUTE)
      // 00:10: the store expired it (on a), and b's snapshot let it go on its own tick
      expect((yield* store.list({ tenantId: "t1" })).map((row) => row.name)).toEqual(["name"])
      expect([...snapshot.profile.keys()]).toEqual(["name"])
      expect(
        (yield* store.list({ tenantId: "t1", includeHistory: true })).find((row) => row.name === "otp")
          ?.status
      ).toBe("expired")
      expect(yield* counter("turnvault_job_items_changed_total", { job: "expire" })).toBe(1)
      // an actor activated now does not bring it back
      yield* b.activate([session("s2")], 10 * MINUTE)
      expect([...(yield* b.get(session("s2"), 10 * MINUTE)).customer.profile.keys()]).toEqual(["name"])
    }).pipe(Effect.provide(stores))
  )

  it.scoped("with jobs off, an instance claims nothing but still sweeps its snapshots", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const leases = yield* JobLeases
      yield* store.writeFields([
        profileField({
          tenant: "t1",
          name: "otp",
          value: "1",
          at: "1970-01-01T00:00:00Z",
          turn: "t1",
          expiresAt: "1970-01-01T00:02:00Z"
        })
      ])
      const registry = yield* makeActorRegistry(registryConfig)
      yield* registry.activate([session("s1")], 0)
      const snapshot = (yield* registry.get(session("s1"), 0)).customer
      yield* Effect.forkScoped(
        runSnapshotSweeps(schedule("off")).pipe(Effect.provideService(ActorRegistry, registry))
      )
      yield* advance(5 * MINUTE)
      expect([...snapshot.profile.keys()]).toEqual([])
      expect(yield* leases.list("expire")).toEqual([])
      // the store's row is another instance's (or an operator's) to expire
      expect((yield* store.list({ tenantId: "t1" })).map((row) => row.name)).toEqual(["otp"])
    }).pipe(Effect.provide(stores))
  )

  it.scoped("an orphaned item leaves the snapshots of the instance that ran the job and of the others", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      yield* store.writeFields([
        profileField({
          tenant: "t1",
          name: "summary",
          value: "x",
          at: "1970-01-01T00:00:00Z",
          turn: "i1",
          derivedFrom: "gone"
        })
      ])
      // a runs the job; b holds the customer too (ItemChanges reaches both, as Redis would)
      const a = yield* makeActorRegistry(registryConfig)
      const b = yield* makeActorRegistry(registryConfig)
      yield* forgetOn(a)
      yield* forgetOn(b)
      yield* a.activate([session("s1")], 0)
      yield* b.activate([session("s2")], 0)
      const snapshots = [(yield* a.get(session("s1"), 0)).customer, (yield* b.get(session("s2"), 0)).customer]
      expect(snapshots.map((snapshot) => [...snapshot.profile.keys()])).toEqual([["summary"], ["summary"]])
      yield* Effect.forkScoped(runSchedules(schedule("a")).pipe(Effect.provideService(ActorRegistry, a)))
      yield* advance(1)
      expect(snapshots.map((snapshot) => [...snapshot.profile.keys()])).toEqual([[], []])
      expect((yield* store.list({ tenantId: "t1", includeHistory: true }))[0]?.status).toBe("orphaned")
    }).pipe(Effect.provide(stores))
  )

  it.scoped("a failing run or claim is counted and logged; the next tick runs again", () =>
    Effect.gen(function* () {
      let expireFailures = 1
      let claimFailures = 1
      const flaky = Layer.effect(
        ProfileStore,
        Effect.map(ProfileStore, (store) => ({
          ...store,
          expireStale: (now: Date) =>
            expireFailures-- > 0
              ? Effect.fail(new ProfileStoreError({ operation: "expireStale", cause: "injected" }))
              : store.expireStale(now)
        }))
      ).pipe(
        Layer.provideMerge(
          Layer.effect(
            JobLeases,
            Effect.map(JobLeases, (leases) => ({
              ...leases,
              claim: (claim: Parameters<typeof leases.claim>[0]) =>
                claim.job === "orphans" && claimFailures-- > 0
                  ? Effect.fail(new JobLeaseError({ operation: "claim", cause: "injected" }))
                  : leases.claim(claim)
            }))
          ).pipe(Layer.provideMerge(stores))
        )
      )
      yield* Effect.gen(function* () {
        const leases = yield* JobLeases
        const registry = yield* makeActorRegistry(registryConfig)
        const fiber = yield* Effect.forkScoped(
          runSchedules(schedule("a")).pipe(Effect.provideService(ActorRegistry, registry))
        )
        yield* advance(1)
        yield* advance(15 * MINUTE)
        expect((yield* leases.list("expire")).map((run) => [run.tick, run.status])).toEqual([
          [0, "failed"],
          [1, "ok"],
          [2, "ok"],
          [3, "ok"]
        ])
        // the failed claim left no row; the next tick's claim worked
        expect((yield* leases.list("orphans")).map((run) => [run.tick, run.status])).toEqual([[1, "ok"]])
        expect(yield* counter("turnvault_job_runs_total", { job: "expire", status: "failed" })).toBe(1)
        expect(yield* counter("turnvault_job_runs_total", { job: "orphans", status: "failed" })).toBe(1)
        expect(fiber.unsafePoll()).toBeNull()
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(flaky))
    })
  )
})

describe("resident snapshots and the expiry job", () => {
  const decode = Schema.decodeUnknownSync(TurnEvent)
  const defs = Schema.decodeUnknownSync(FieldDefinitions)([
    def("otp", "string", "BUSINESS", { expires_after_seconds: 60 })
  ])
  const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1) + seconds * 1000).toISOString()

  it.scoped("the next turn after the expiry tick no longer sees the value as current", () =>
    Effect.gen(function* () {
      yield* Effect.flatMap(ProfileStore, (store) => store.upsertDefinitions(defs))
      yield* processEvents([decode(turn({ turn: 1, at: at(0), vars: { otp: "123" } }))])
      const registry = yield* ActorRegistry
      yield* TestClock.setTime(Date.parse(at(61)))
      yield* Effect.forkScoped(runSchedules(schedule("a")))
      yield* advance(1)
      const [result] = yield* processEvents([decode(turn({ turn: 2, at: at(62), vars: { otp: "123" } }))])
      // the same value again is a new value (no current one to confirm): a new active row
      const update = result?.kind === "applied" ? result.record?.customer_data_updates[0] : undefined
      expect(update).toMatchObject({ field_name: "otp", is_update: false })
      const rows = yield* Effect.flatMap(ProfileStore, (store) =>
        store.list({ tenantId: "t1", includeHistory: true })
      )
      expect(rows.map((row) => [row.source_item_id, row.status])).toEqual([
        ["t1-s1-1", "expired"],
        ["t1-s1-2", "active"]
      ])
      // the new value expires a minute after its own turn, not with the old row
      yield* registry.expireResident(Date.parse(at(100)))
      const actor = yield* registry.get({ ...session("s1"), customer_id: "c1" }, Date.parse(at(100)))
      expect(actor.customer.profile.get("otp")?.source_item_id).toBe("t1-s1-2")
    }).pipe(Effect.provide(Layer.merge(embeddedPipeline(), ItemChanges.local)))
  )
})
