/**
 * The Readiness of `/readyz` (DESIGN 7): ready when the consumer is connected and making progress
 * (no partition with lag has gone `stallMs` without its committed offset advancing) and every
 * configured store answers a ping. The stores' adapters supply their pings (`postgresHealthCheck`,
 * `redisHealthCheck`), each on a connection of its own, so a ping reports whether the server
 * answers, not whether the stores' pool happens to be busy: a consumer whose writes are blocked
 * while the connections are up shows as "not making progress".
 */
import { Duration, Effect, Layer, type Scope } from "effect"
import type { ConsumerProgress } from "./ConsumerProgress"
import { type CheckResult, Readiness } from "./HttpApi"

export type Check = CheckResult

/**
 * One dependency's check: acquiring it opens what the check needs (its own connection) for the
 * scope's lifetime; the inner effect runs on every `/readyz` and never fails.
 */
export type HealthCheck = Effect.Effect<Effect.Effect<Check>, never, Scope.Scope>

/** How long a ping may take before its dependency counts as unavailable. */
export const defaultPingTimeout: Duration.DurationInput = Duration.seconds(2)

/** A ping's failure: a tagged error that keeps the client's cause. */
interface PingError {
  readonly _tag: string
  readonly cause: unknown
}

/**
 * Runs a ping; any failure or timeout is "not ok". The detail is the client's own message (a pg or
 * ioredis error says what failed and where, never the connection string's password).
 */
export const pingCheck = (
  name: string,
  ping: Effect.Effect<unknown, PingError>,
  timeout: Duration.DurationInput = defaultPingTimeout
): Effect.Effect<Check> =>
  ping.pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => `no answer within ${Duration.format(timeout)}`
    }),
    Effect.match({
      onSuccess: (): Check => ({ name, ok: true, detail: "ok" }),
      onFailure: (error): Check => ({
        name,
        ok: false,
        detail: typeof error === "string" ? error : `ping failed (${describe(error)})`
      })
    })
  )

const describe = (error: PingError) => (error.cause instanceof Error ? error.cause.message : error._tag)

/** The consumption check, named after the source (`kafka` or `embedded`). */
export const consumerCheck = (source: string, progress: ConsumerProgress, stallMs: number): HealthCheck =>
  Effect.succeed(Effect.sync((): Check => ({ name: source, ...progress.check(stallMs) })))

/** How long the consumer may be stopped (between recreations) before `/healthz` fails. */
export const LIVENESS_GRACE_MS = 120_000

/**
 * `/readyz` runs every check at once and answers in the order given; `/healthz` asks `progress`
 * whether a consumer runs (none given: always alive).
 */
export const readinessLayer = (
  checks: ReadonlyArray<HealthCheck>,
  progress?: ConsumerProgress
): Layer.Layer<Readiness> =>
  Layer.scoped(
    Readiness,
    Effect.map(Effect.all(checks), (pings) => ({
      check: Effect.all(pings, { concurrency: "unbounded" }),
      alive: Effect.sync(() => progress?.alive(LIVENESS_GRACE_MS) ?? { ok: true, detail: "ok" })
    }))
  )
