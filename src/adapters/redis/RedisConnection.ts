/**
 * The ioredis client as a scoped resource, tuned to fail fast: no offline queue, one retry per
 * request, a command timeout, and reconnection with capped backoff forever. It also tracks whether
 * the cache may be trusted: after a lost connection, or a write whose invalidation did not reach
 * Redis, entries may be stale, so reads bypass the cache until every namespace epoch is bumped.
 */
import { Context, Data, Duration, Effect, Either, Layer, Schedule } from "effect"
import { Redis } from "ioredis"
import { CACHE_NAMES, namespaceKeys } from "./internal/keys"
import * as Scripts from "./internal/scripts"
import { type RedisCacheConfig, urlOf } from "./RedisCacheConfig"

export class RedisCacheError extends Data.TaggedError("RedisCacheError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

export type ScriptName = "tvRead" | "tvFill" | "tvBegin" | "tvEnd" | "tvEndWriteSnapshot"
export interface ScriptCallSpec {
  readonly script: ScriptName
  readonly keys: ReadonlyArray<string>
  readonly args: ReadonlyArray<string>
}
type ScriptCall = (numKeys: number, ...args: Array<string>) => Promise<unknown>

export interface RedisConnectionService {
  readonly client: Redis
  readonly config: RedisCacheConfig
  /**
   * When connected and no invalidation is known to be missing, a token (else null): entries may be
   * served and filled as long as `stillTrusted(token)` holds after the command.
   */
  readonly trust: () => number | null
  readonly stillTrusted: (token: number) => boolean
  /** An invalidation may not have reached Redis: distrust the cache until the epochs are bumped. */
  readonly distrust: () => void
  readonly script: (
    operation: ScriptName,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<string>
  ) => Effect.Effect<unknown, RedisCacheError>
  /**
   * Several script calls in one round trip (a pipeline, not a transaction): one result per call,
   * in order, each the script's answer or its error. Fails only when the pipeline itself does.
   */
  readonly scripts: (
    operation: string,
    calls: ReadonlyArray<ScriptCallSpec>
  ) => Effect.Effect<ReadonlyArray<Either.Either<unknown, unknown>>, RedisCacheError>
  readonly command: <A>(
    operation: string,
    run: (client: Redis) => Promise<A>
  ) => Effect.Effect<A, RedisCacheError>
  /** A second connection for SUBSCRIBE (a subscribed connection runs no other commands). */
  readonly subscriber: Redis
}

export class RedisConnection extends Context.Tag("turnvault/RedisConnection")<
  RedisConnection,
  RedisConnectionService
>() {}

const clientOptions = (config: RedisCacheConfig) => ({
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  autoResendUnfulfilledCommands: false,
  commandTimeout: config.commandTimeoutMs,
  connectTimeout: config.connectTimeoutMs,
  retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), config.reconnectMaxDelayMs)
})

/** Opens a client without waiting long: Redis being down at start must not stop turnvault. */
const acquireClient = (config: RedisCacheConfig, options: Record<string, unknown> = {}) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const client = new Redis(urlOf(config), { ...clientOptions(config), ...options })
      // Connection errors surface as failed commands; without a listener ioredis logs each one.
      client.on("error", () => {})
      return client
    }).pipe(
      Effect.tap((client) =>
        Effect.tryPromise({
          try: () => client.connect(),
          catch: (cause) => new RedisCacheError({ operation: "connect", cause })
        }).pipe(Effect.timeout(Duration.millis(config.connectTimeoutMs)), Effect.ignore)
      )
    ),
    (client) =>
      Effect.tryPromise({
        try: () => client.quit(),
        catch: (cause) => new RedisCacheError({ operation: "quit", cause })
      }).pipe(
        Effect.timeout(Duration.seconds(1)),
        Effect.ignore,
        Effect.ensuring(Effect.sync(() => client.disconnect()))
      )
  )

export const make = (config: RedisCacheConfig) =>
  Effect.gen(function* () {
    const client = yield* acquireClient(config)
    const subscriber = yield* acquireClient(config, { enableOfflineQueue: true, maxRetriesPerRequest: null })
    const scripts: Record<ScriptName, string> = {
      tvRead: Scripts.READ,
      tvFill: Scripts.FILL,
      tvBegin: Scripts.BEGIN,
      tvEnd: Scripts.END,
      tvEndWriteSnapshot: Scripts.END_WRITE_SNAPSHOT
    }
    for (const [name, lua] of Object.entries(scripts)) client.defineCommand(name, { lua })
    const calls = client as unknown as Record<ScriptName, ScriptCall>

    // Distrust generations: a lost connection or a missed invalidation raises `distrusted`; a
    // successful epoch bump that started after it lowers it.
    let distrusted = 0
    let repaired = 0
    let everReady = client.status === "ready"
    client.on("ready", () => {
      everReady = true
    })
    client.on("close", () => {
      if (everReady) distrusted += 1
    })

    const command = <A>(operation: string, run: (client: Redis) => Promise<A>) =>
      Effect.tryPromise({
        try: () => run(client),
        catch: (cause) => new RedisCacheError({ operation, cause })
      })

    const script = (operation: ScriptName, keys: ReadonlyArray<string>, args: ReadonlyArray<string>) =>
      command(operation, () => calls[operation](keys.length, ...keys, ...args))

    const scriptsAtOnce = (operation: string, specs: ReadonlyArray<ScriptCallSpec>) =>
      command(operation, async (c) => {
        const pipeline = c.pipeline() as unknown as Record<
          ScriptName,
          (...args: Array<unknown>) => unknown
        > & {
          exec: () => Promise<Array<[Error | null, unknown]> | null>
        }
        for (const spec of specs) pipeline[spec.script](spec.keys.length, ...spec.keys, ...spec.args)
        const replies = (await pipeline.exec()) ?? []
        return specs.map((_, i) => {
          const [error, value] = replies[i] ?? [new Error("no reply"), undefined]
          return error === null ? Either.right(value) : Either.left(error)
        })
      })

    const epochs = CACHE_NAMES.map((cache) => namespaceKeys(config.keyPrefix, cache).epoch)
    const repair = Effect.suspend(() => {
      if (distrusted === repaired || client.status !== "ready") return Effect.void
      const generation = distrusted
      return command("repair", (c) => {
        const multi = c.multi()
        for (const key of epochs) multi.incr(key)
        return multi.exec()
      }).pipe(
        Effect.tap(() =>
          Effect.sync(() => {
            repaired = generation
          })
        ),
        Effect.zipLeft(Effect.logInfo("redis cache: epochs bumped after a possible missed invalidation")),
        Effect.ignore
      )
    })
    yield* Effect.forkScoped(Effect.repeat(repair, Schedule.spaced(Duration.millis(100))))

    return RedisConnection.of({
      client,
      config,
      subscriber,
      trust: () => (client.status === "ready" && distrusted === repaired ? distrusted : null),
      stillTrusted: (token) => token === distrusted && token === repaired && client.status === "ready",
      distrust: () => {
        distrusted += 1
      },
      script,
      scripts: scriptsAtOnce,
      command
    })
  })

export const layer = (config: RedisCacheConfig): Layer.Layer<RedisConnection> =>
  Layer.scoped(RedisConnection, make(config))
