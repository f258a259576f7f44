/**
 * The Redis check of `/readyz`: PING on a client of its own that connects lazily, fails fast (no
 * offline queue) and keeps reconnecting, so it says whether the server answers right now. Redis is
 * a cache: the stores fall back to PostgreSQL without it, so a failed ping degrades the service
 * (`degradesOnly`) instead of making it unready.
 */
import { type Duration, Effect, Redacted } from "effect"
import { Redis } from "ioredis"
import { defaultPingTimeout, type HealthCheck, pingCheck } from "../../observability/Readiness"
import { RedisCacheError } from "./RedisConnection"

export const redisHealthCheck = (
  url: Redacted.Redacted<string>,
  timeout: Duration.DurationInput = defaultPingTimeout
): HealthCheck =>
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
      Effect.map(
        pingCheck(
          "redis",
          Effect.tryPromise({
            try: async () => {
              if (client.status === "wait" || client.status === "end") await client.connect()
              return client.ping()
            },
            catch: (cause) => new RedisCacheError({ operation: "ping", cause })
          }),
          timeout
        ),
        (check) => ({ ...check, degradesOnly: true as const })
      )
  )
