/**
 * DefinitionsChanges across instances (hot reload of field definitions): a committed definitions
 * change is published on the Redis channel `turnvault:definitions`; every instance runs its registered handlers (e.g. the
 * ActorRegistry's `invalidateDefinitions`). Handlers also run locally on publish, so the writing
 * instance does not depend on Redis. After the subscriber reconnects, messages may have been missed,
 * so handlers run once with `all: true`.
 */
import { randomUUID } from "node:crypto"
import { Deferred, Effect, Exit, Layer, Queue } from "effect"
import {
  type DefinitionsChange,
  DefinitionsChanges,
  type DefinitionsKey,
  makeHandlers
} from "../../ports/DefinitionsChanges"
import { DEFINITIONS_CHANNEL } from "./internal/keys"
import { RedisConnection } from "./RedisConnection"

interface Message {
  readonly origin: string
  readonly keys: ReadonlyArray<DefinitionsKey>
}

const decode = (text: string): Message | undefined => {
  try {
    const value = JSON.parse(text) as Message
    return typeof value.origin === "string" && Array.isArray(value.keys) ? value : undefined
  } catch {
    return undefined
  }
}

export const make = Effect.gen(function* () {
  const conn = yield* RedisConnection
  const origin = randomUUID()
  const handlers = makeHandlers()
  const inbox = yield* Queue.sliding<DefinitionsChange>(1_000)

  const subscriber = conn.subscriber
  const subscribed = yield* Deferred.make<void>()
  let subscribedOnce = false
  subscriber.on("message", (channel: string, text: string) => {
    const message = channel === DEFINITIONS_CHANNEL ? decode(text) : undefined
    if (message !== undefined && message.origin !== origin)
      Queue.unsafeOffer(inbox, { all: false, keys: message.keys })
  })
  subscriber.on("ready", () => {
    // ioredis resubscribes by itself; whatever was published meanwhile is lost.
    if (subscribedOnce) Queue.unsafeOffer(inbox, { all: true })
  })
  // With its offline queue the subscriber sends SUBSCRIBE once connected, however late that is.
  yield* Effect.sync(() =>
    subscriber.subscribe(DEFINITIONS_CHANNEL).then(
      () => {
        subscribedOnce = true
        Deferred.unsafeDone(subscribed, Exit.void)
      },
      () => {}
    )
  )
  yield* Queue.take(inbox).pipe(
    Effect.flatMap((change) => handlers.run(change)),
    Effect.forever,
    Effect.forkScoped
  )

  const publish = (keys: ReadonlyArray<DefinitionsKey>) =>
    handlers.run({ all: false, keys }).pipe(
      Effect.zipRight(
        conn.command("publish", (c) => c.publish(DEFINITIONS_CHANNEL, JSON.stringify({ origin, keys })))
      ),
      Effect.catchAll(() =>
        Effect.logWarning("redis cache: definitions change not announced; others reload on their TTL")
      )
    )

  return DefinitionsChanges.of({
    publish,
    subscribed: Deferred.await(subscribed),
    onChange: handlers.register
  })
})

export const layer: Layer.Layer<DefinitionsChanges, never, RedisConnection> = Layer.scoped(
  DefinitionsChanges,
  make
)
