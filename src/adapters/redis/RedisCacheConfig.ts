/**
 * Knobs of the Redis cache in front of the stores (DESIGN 5, 7). Read through Effect's Config with a
 * default and a description each; the URL itself comes from AppConfig's `redisUrl` (REDIS_URL).
 */
import { Config, Redacted } from "effect"

export interface RedisCacheConfig {
  readonly url: Redacted.Redacted<string> | string
  /** Lifetime of a cached profile, session snapshot or definitions list (before jitter). */
  readonly ttlMs: number
  /** Each entry lives `ttlMs * (1 + random * ttlJitter)`, so a cold start does not expire in step. */
  readonly ttlJitter: number
  /** A Redis command that has not answered after this long fails (and the read falls back). */
  readonly commandTimeoutMs: number
  readonly connectTimeoutMs: number
  /** Longest delay between reconnection attempts. */
  readonly reconnectMaxDelayMs: number
  /** Most store loads the cache runs at once (misses and fallbacks): the stampede guard. */
  readonly maxConcurrentLoads: number
  /**
   * How long a write's "pending" marker blocks cache hits and fills if the writer never finishes
   * (crash): longer than any store transaction.
   */
  readonly pendingTtlMs: number
  /** Prepended to every key (not to the pub/sub channel). */
  readonly keyPrefix: string
}

export const defaults: Omit<RedisCacheConfig, "url"> = {
  ttlMs: 30 * 60_000,
  ttlJitter: 0.1,
  commandTimeoutMs: 200,
  connectTimeoutMs: 1_000,
  reconnectMaxDelayMs: 1_000,
  maxConcurrentLoads: 16,
  pendingTtlMs: 60_000,
  keyPrefix: ""
}

const int = (name: string, fallback: number, description: string) =>
  Config.integer(name).pipe(Config.withDefault(fallback), Config.withDescription(description))

/** The knobs from the environment (`TURNVAULT_CACHE_*`), for a given REDIS_URL. */
export const fromConfig = (url: Redacted.Redacted<string> | string): Config.Config<RedisCacheConfig> =>
  Config.all({
    ttlMs: int("TURNVAULT_CACHE_TTL_MS", defaults.ttlMs, "Lifetime of a cache entry before jitter"),
    ttlJitter: Config.number("TURNVAULT_CACHE_TTL_JITTER").pipe(
      Config.withDefault(defaults.ttlJitter),
      Config.withDescription("Extra random fraction of the TTL added per entry")
    ),
    commandTimeoutMs: int(
      "TURNVAULT_CACHE_COMMAND_TIMEOUT_MS",
      defaults.commandTimeoutMs,
      "A Redis command fails after this long; the read falls back to the store"
    ),
    connectTimeoutMs: int(
      "TURNVAULT_CACHE_CONNECT_TIMEOUT_MS",
      defaults.connectTimeoutMs,
      "Redis connect timeout"
    ),
    reconnectMaxDelayMs: int(
      "TURNVAULT_CACHE_RECONNECT_MAX_MS",
      defaults.reconnectMaxDelayMs,
      "Longest delay between Redis reconnection attempts"
    ),
    maxConcurrentLoads: int(
      "TURNVAULT_CACHE_MAX_CONCURRENT_LOADS",
      defaults.maxConcurrentLoads,
      "Most store loads run by the cache at once (stampede guard)"
    ),
    pendingTtlMs: int(
      "TURNVAULT_CACHE_PENDING_TTL_MS",
      defaults.pendingTtlMs,
      "Lifetime of a write's pending marker if its writer dies"
    ),
    keyPrefix: Config.string("TURNVAULT_CACHE_KEY_PREFIX").pipe(Config.withDefault(defaults.keyPrefix))
  }).pipe(Config.map((knobs) => ({ url, ...knobs })))

export const urlOf = (config: RedisCacheConfig) =>
  typeof config.url === "string" ? config.url : Redacted.value(config.url)
