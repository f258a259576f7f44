/**
 * DefinitionsChanges across instances (hot reload of field definitions): a committed definitions
 * change is published on the Redis channel `turnvault:definitions`; every instance runs its
 * registered handlers (e.g. the ActorRegistry's `invalidateDefinitions`). Handlers also run locally
 * on publish, so the writing instance does not depend on Redis. After the subscriber reconnects,
 * messages may have been missed, so handlers run once with `all: true`.
 */
import { Effect, Layer } from "effect"
import { DefinitionsChanges, type DefinitionsKey, makeHandlers } from "../../ports/DefinitionsChanges"
import { makeChannel } from "./internal/channel"
import { DEFINITIONS_CHANNEL } from "./internal/keys"
import type { RedisConnection } from "./RedisConnection"

const isKeys = (payload: unknown): payload is ReadonlyArray<DefinitionsKey> => Array.isArray(payload)

export const make = Effect.gen(function* () {
  const handlers = makeHandlers()
  const channel = yield* makeChannel({
    name: DEFINITIONS_CHANNEL,
    decode: (payload) => (isKeys(payload) ? payload : undefined),
    deliver: (keys) => handlers.run({ all: false, keys }),
    onResubscribed: handlers.run({ all: true })
  })

  const publish = (keys: ReadonlyArray<DefinitionsKey>) =>
    handlers.run({ all: false, keys }).pipe(
      Effect.zipRight(channel.publish(keys)),
      Effect.catchAll(() =>
        Effect.logWarning("redis cache: definitions change not announced; others reload on their TTL")
      )
    )

  return DefinitionsChanges.of({
    publish,
    subscribed: channel.subscribed,
    onChange: handlers.register
  })
})

export const layer: Layer.Layer<DefinitionsChanges, never, RedisConnection> = Layer.scoped(
  DefinitionsChanges,
  make
)
