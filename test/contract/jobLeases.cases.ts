/** JobLeases contract: one claim per (job, tick) wins, however many instances ask, and when. */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import { JobLeases } from "../../src/ports/JobLeases"
import type { StoreIt } from "./stores.contract"

const startedAt = new Date("2024-05-01T10:00:00.000Z")

export const jobLeaseCases = (it: StoreIt, tenant: (label: string) => string) => {
  it.effect("job leases: two claims of one (job, tick) at once: exactly one wins", () =>
    Effect.gen(function* () {
      const leases = yield* JobLeases
      const job = tenant("expire")
      const claims = ["instance-a", "instance-b", "instance-c"].map((instance) => ({
        job,
        tick: 7,
        instance,
        startedAt
      }))
      const won = yield* Effect.forEach(claims, (claim) => leases.claim(claim), { concurrency: "unbounded" })
      expect(won.filter(Boolean)).toHaveLength(1)
      const runs = yield* leases.list(job)
      expect(runs).toHaveLength(1)
      expect(runs[0]).toMatchObject({ job, tick: 7, status: "running", finishedAt: null, itemsChanged: null })
      expect(runs[0]?.instance).toBe(claims[won.indexOf(true)]?.instance)
    })
  )

  it.effect("job leases: a claim after the winner finished still loses; other ticks and jobs win", () =>
    Effect.gen(function* () {
      const leases = yield* JobLeases
      const job = tenant("orphans")
      const first = { job, tick: 100, instance: "instance-a", startedAt }
      expect(yield* leases.claim(first)).toBe(true)
      const finishedAt = new Date("2024-05-01T10:00:01.000Z")
      yield* leases.finish(first, { status: "ok", finishedAt, itemsChanged: 3 })
      expect(yield* leases.claim({ ...first, instance: "instance-b" })).toBe(false)
      expect(yield* leases.claim({ ...first, tick: 101, instance: "instance-b" })).toBe(true)
      expect(yield* leases.claim({ ...first, job: tenant("other-job") })).toBe(true)
      const runs = yield* leases.list(job)
      expect(runs.map((run) => [run.tick, run.instance, run.status, run.itemsChanged])).toEqual([
        [100, "instance-a", "ok", 3],
        [101, "instance-b", "running", null]
      ])
      expect(runs[0]?.finishedAt?.toISOString()).toBe(finishedAt.toISOString())
      // the status read: the latest tick's run, and the latest successful one
      const latest = yield* leases.latest(job)
      expect([
        latest.last?.tick,
        latest.last?.status,
        latest.lastOk?.tick,
        latest.lastOk?.itemsChanged
      ]).toEqual([101, "running", 100, 3])
      expect(yield* leases.latest(tenant("never-ran"))).toEqual({ last: null, lastOk: null })
    })
  )

  it.effect("job leases: a failed run keeps its tick; the next tick is free", () =>
    Effect.gen(function* () {
      const leases = yield* JobLeases
      const job = tenant("failing")
      const claim = { job, tick: 5, instance: "instance-a", startedAt }
      expect(yield* leases.claim(claim)).toBe(true)
      yield* leases.finish(claim, { status: "failed", finishedAt: startedAt, itemsChanged: null })
      expect(yield* leases.claim({ ...claim, instance: "instance-b" })).toBe(false)
      expect(yield* leases.claim({ ...claim, tick: 6 })).toBe(true)
      expect((yield* leases.list(job)).map((run) => run.status)).toEqual(["failed", "running"])
      expect((yield* leases.latest(job)).lastOk).toBeNull()
    })
  )
}
