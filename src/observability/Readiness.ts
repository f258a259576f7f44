/**
 * The Readiness of `/readyz` (DESIGN 7): ready when the consumer is connected and making progress
 * (no partition with lag has gone `stallMs` without its committed offset advancing) and every
 * configured store answers a ping (PostgreSQL when DATABASE_URL is set, Redis when REDIS_URL is).
 * Each ping has a connection of its own, so it reports whether the server answers, not whether the
 * stores' pool happens to be busy: a consumer whose writes are blocked while the connections are up
 * shows as "not making progress".
 */
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { Redis } from "ioredis"
import type { ConsumerProgress } from "./ConsumerProgress"
import { PgClient } from "../adapters/postgres"
import { Readiness } from "./HttpApi"

export interface ReadinessConfig {
  /** `kafka` or `embedded`: the name of the consumption check. */
  readonly source: string
  readonly progress: ConsumerProgress
  readonly stallMs: number
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly redisUrl: Option.Option<Redacted.Redacted<string>>
  /** How long a ping may take before its dependency counts as unavailable. */
  readonly pingTimeout?: Duration.DurationInput
}

export interface Check {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

/** Runs a ping; any failure or timeout is "not ok", with a detail that never carries a secret. */
const ping = (name: string, effect: Effect.Effect<unknown, unknown>, timeout: Duration.DurationInput) =>
  effect.pipe(
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

const describe = (error: unknown) => {
  const cause = (error as { cause?: unknown }).cause
  return cause instanceof Error ? cause.message : String((error as { _tag?: string })._tag ?? "error")
}

const postgresPing = (url: Redacted.Redacted<string>, timeout: Duration.DurationInput) =>
  Effect.map(PgClient.make({ connectionString: Redacted.value(url), max: 1 }), (pg) =>
    ping("postgres", pg.query("SELECT 1"), timeout)
  )

/** A lazily connecting client that fails fast (no offline queue) and keeps reconnecting. */
const redisPing = (url: Redacted.Redacted<string>, timeout: Duration.DurationInput) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => {
        const client = new Redis(Redacted.value(url), {
          lazyConnect: true,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          connectionName: "turnvault-readiness"
        })
        // Connection errors surface through the ping; unhandled they would crash the process.
        client.on("error", () => {})
        return client
      }),
      (client) => Effect.sync(() => client.disconnect())
    ),
    (client) =>
      ping(
        "redis",
        Effect.tryPromise(async () => {
          if (client.status === "wait" || client.status === "end") await client.connect()
          return client.ping()
        }),
        timeout
      )
  )

export const readinessLayer = (config: ReadinessConfig): Layer.Layer<Readiness> =>
  Layer.scoped(
    Readiness,
    Effect.gen(function* () {
      const timeout = config.pingTimeout ?? Duration.seconds(2)
      const consumer = Effect.sync(
        (): Check => ({ name: config.source, ...config.progress.check(config.stallMs) })
      )
      const pings: Array<Effect.Effect<Check>> = []
      if (Option.isSome(config.databaseUrl))
        pings.push(yield* postgresPing(config.databaseUrl.value, timeout))
      if (Option.isSome(config.redisUrl)) pings.push(yield* redisPing(config.redisUrl.value, timeout))
      return {
        check: Effect.all([consumer, ...pings], { concurrency: "unbounded" })
      }
    })
  )
