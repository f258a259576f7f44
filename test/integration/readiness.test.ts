/**
 * The checks of `/readyz` (DESIGN 7): the adapters' store pings against real servers and against a
 * port nobody listens on, the shared timeout, and `readinessLayer` answering in the given order.
 * A failing check says why without the connection string's secret.
 */
import { describe, expect, it } from "@effect/vitest"
import { Data, Effect, Fiber, Redacted, TestClock } from "effect"
import { postgresHealthCheck } from "../../src/adapters/postgres"
import { redisHealthCheck } from "../../src/adapters/redis"
import { makeConsumerProgress } from "../../src/observability/ConsumerProgress"
import { Readiness, readinessAnswer } from "../../src/observability/HttpApi"
import { consumerCheck, type HealthCheck, pingCheck, readinessLayer } from "../../src/observability/Readiness"
import { freePort } from "../support/child"
import { adminUrl } from "../support/postgres"
import { redisServerProcess } from "../support/redis"

class ProbeError extends Data.TaggedError("ProbeError")<{ readonly cause: unknown }> {}

const runCheck = (check: HealthCheck) => Effect.scoped(Effect.flatten(check))

const closedPort = Effect.promise(() => freePort())

describe("readiness checks", () => {
  it("liveness fails once no consumer has run for longer than the grace period", () => {
    let now = 0
    const progress = makeConsumerProgress(() => now)
    expect(progress.alive(1_000).ok).toBe(true) // starting
    progress.running(true)
    progress.running(false) // stopped: the source recreates it after a backoff
    now += 1_000
    expect(progress.alive(1_000).ok).toBe(true)
    progress.running(false) // a second report does not restart the clock
    now += 1
    expect(progress.alive(1_000)).toEqual({ ok: false, detail: "no consumer running for over 1000 ms" })
    progress.running(true)
    expect(progress.alive(1_000).ok).toBe(true)
  })

  it("a partition fetched but never committed since start is stalled once the window passes", () => {
    let now = 1_000
    const progress = makeConsumerProgress(() => now)
    progress.connected(true)
    progress.assigned(new Set(["t/0", "t/1"]))
    progress.lagged("t/0", 5) // fetched, stuck before or after this process started
    progress.lagged("t/1", 3)
    now += 4_000
    progress.committed("t/1", 3, 0)
    expect(progress.check(5_000).ok).toBe(true)
    now += 1_001
    expect(progress.check(5_000)).toEqual({
      ok: false,
      detail: "no progress on partitions t/0 for over 5000 ms"
    })
    // more fetched records of a stuck partition do not restart its clock
    progress.lagged("t/0", 9)
    expect(progress.check(5_000).ok).toBe(false)
  })

  it.effect("a ping that does not answer in time is not ok, and says how long it waited", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(pingCheck("slow", Effect.never, "2 seconds"))
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(fiber)).toEqual({ name: "slow", ok: false, detail: "no answer within 2s" })
    })
  )

  it.effect("a failed ping reports the client's message, else the error's tag", () =>
    Effect.gen(function* () {
      const withMessage = new ProbeError({ cause: new Error("connect ECONNREFUSED") })
      expect(yield* pingCheck("a", Effect.fail(withMessage))).toEqual({
        name: "a",
        ok: false,
        detail: "ping failed (connect ECONNREFUSED)"
      })
      expect(yield* pingCheck("b", Effect.fail(new ProbeError({ cause: "no Error" })))).toEqual({
        name: "b",
        ok: false,
        detail: "ping failed (ProbeError)"
      })
    })
  )

  it.effect("readinessLayer runs the consumer check and the pings in the order given", () =>
    Effect.gen(function* () {
      const progress = makeConsumerProgress()
      progress.connected(true)
      const fixed = (name: string, ok: boolean): HealthCheck =>
        Effect.succeed(Effect.succeed({ name, ok, detail: ok ? "ok" : "down" }))
      const checks = yield* Effect.flatMap(Readiness, (r) => r.check).pipe(
        Effect.provide(
          readinessLayer([
            consumerCheck("embedded", progress, 1_000),
            fixed("postgres", true),
            fixed("redis", false)
          ])
        )
      )
      expect(checks.map((c) => [c.name, c.ok])).toEqual([
        ["embedded", true],
        ["postgres", true],
        ["redis", false]
      ])
    })
  )

  it.live("postgresHealthCheck: ok against the server, not ok (without the password) on a closed port", () =>
    Effect.gen(function* () {
      expect(yield* runCheck(postgresHealthCheck(Redacted.make(adminUrl)))).toEqual({
        name: "postgres",
        ok: true,
        detail: "ok"
      })
      const port = yield* closedPort
      const down = yield* runCheck(
        postgresHealthCheck(Redacted.make(`postgres://turnvault:hunter2@127.0.0.1:${port}/x`))
      )
      expect(down).toMatchObject({ name: "postgres", ok: false })
      expect(down.detail).toMatch(/^ping failed \(|^no answer within/)
      expect(down.detail).not.toContain("hunter2")
    })
  )

  it.live("redisHealthCheck: ok against the server, not ok (without the password) on a closed port", () =>
    Effect.gen(function* () {
      const server = yield* Effect.acquireRelease(
        Effect.promise(() => redisServerProcess()),
        (s) => Effect.promise(() => s.stop())
      )
      expect(yield* runCheck(redisHealthCheck(Redacted.make(server.url)))).toEqual({
        name: "redis",
        ok: true,
        detail: "ok",
        degradesOnly: true
      })
      const port = yield* closedPort
      const down = yield* runCheck(redisHealthCheck(Redacted.make(`redis://:hunter2@127.0.0.1:${port}`)))
      expect(down).toMatchObject({ name: "redis", ok: false, degradesOnly: true })
      expect(down.detail).not.toContain("hunter2")
      // the cache down: degraded, still ready; PostgreSQL down: not ready
      const postgres = { name: "postgres", ok: true, detail: "ok" }
      expect(readinessAnswer([postgres, down])).toEqual({
        status: 200,
        body: { ready: true, degraded: true, checks: [postgres, down] }
      })
      const pgDown = { ...postgres, ok: false, detail: "ping failed (x)" }
      expect(readinessAnswer([pgDown, down]).status).toBe(503)
      expect(readinessAnswer([postgres]).body).toEqual({ ready: true, degraded: false, checks: [postgres] })
    }).pipe(Effect.scoped)
  )
})
