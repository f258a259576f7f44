/**
 * Redis in front of the stores (REDIS_URL). `withRedisCache(config)` turns a stores layer into the
 * same stores with SessionStore, ProfileStore and UnitOfWork replaced by cached decorators, plus
 * DefinitionsChanges (hot reload), ItemChanges (rows made inactive outside the stream) and RedisCache. Other services of the stores layer (AuditStore,
 * PgClient, TenantReader...) pass through unchanged.
 */
import { type ConfigError, Context, Effect, Layer, Option, type Redacted } from "effect"
import { ProfileStore } from "../../ports/ProfileStore"
import { SessionStore } from "../../ports/SessionStore"
import { UnitOfWork } from "../../ports/UnitOfWork"
import type { Metrics } from "../../observability/Metrics"
import * as CachedProfileStore from "./CachedProfileStore"
import * as CachedSessionStore from "./CachedSessionStore"
import { DefinitionsChanges } from "../../ports/DefinitionsChanges"
import * as RedisDefinitionsChanges from "./RedisDefinitionsChanges"
import { ItemChanges } from "../../ports/ItemChanges"
import * as RedisItemChanges from "./RedisItemChanges"
import { RedisCache } from "./RedisCache"
import * as RedisCacheConfig from "./RedisCacheConfig"
import * as RedisConnection from "./RedisConnection"

export { RedisCache } from "./RedisCache"
export { redisHealthCheck } from "./RedisHealthCheck"
export { RedisCacheConfig, RedisConnection }

type Ports = SessionStore | ProfileStore | UnitOfWork

/** Builds the decorators over the undecorated ports and hands back the whole context, overridden. */
const decorate = <ROut>() =>
  Layer.effectContext(
    Effect.gen(function* () {
      const context = yield* Effect.context<ROut | Ports | RedisCache | DefinitionsChanges | ItemChanges>()
      const ports = context as Context.Context<Ports | RedisCache | DefinitionsChanges>
      const sessions = yield* Effect.provide(CachedSessionStore.make, ports)
      const profiles = yield* Effect.provide(CachedProfileStore.make, ports)
      const uow = Context.get(ports, RedisCache).unitOfWork(Context.get(ports, UnitOfWork))
      return context.pipe(
        Context.add(SessionStore, sessions),
        Context.add(ProfileStore, profiles),
        Context.add(UnitOfWork, uow)
      )
    })
  )

/**
 * The cache in front of the given stores: one Redis connection (plus one for pub/sub) for the
 * layer's lifetime, closed when it is released.
 */
export const withRedisCache =
  (config: RedisCacheConfig.RedisCacheConfig) =>
  <ROut, E, R>(
    stores: Layer.Layer<ROut | Ports, E, R>
  ): Layer.Layer<ROut | Ports | RedisCache | DefinitionsChanges | ItemChanges, E, R | Metrics> => {
    const connection = RedisConnection.layer(config)
    const redis = Layer.mergeAll(
      RedisCache.layer,
      RedisDefinitionsChanges.layer,
      RedisItemChanges.layer
    ).pipe(Layer.provide(connection))
    return decorate<ROut>().pipe(Layer.provide(Layer.merge(stores, redis)))
  }

/**
 * For the composition root: the cache when REDIS_URL is set (knobs from `TURNVAULT_CACHE_*`),
 * else the stores unchanged plus local DefinitionsChanges and ItemChanges, so the output type is the same.
 */
export const withOptionalRedisCache =
  (redisUrl: Option.Option<Redacted.Redacted<string>>) =>
  <ROut, E, R>(
    stores: Layer.Layer<ROut | Ports, E, R>
  ): Layer.Layer<ROut | Ports | DefinitionsChanges | ItemChanges, E | ConfigError.ConfigError, R | Metrics> =>
    Option.match(redisUrl, {
      onNone: () => Layer.mergeAll(stores, DefinitionsChanges.local, ItemChanges.local),
      onSome: (url) =>
        Layer.unwrapEffect(
          Effect.map(RedisCacheConfig.fromConfig(url), (config) => withRedisCache(config)(stores))
        )
    })
