/**
 * Hot reload of field definitions across instances: a committed definitions change is published on
 * the Redis channel `turnvault:definitions`; every instance runs its registered handlers (e.g. the
 * ActorRegistry's `invalidateDefinitions`). Handlers also run locally on publish, so the writing
 * instance does not depend on Redis. After the subscriber reconnects, messages may have been missed,
 * so handlers run once with `all: true`.
 */
import { randomUUID } from "node:crypto"
import { Context, Deferred, Effect, Exit, Layer, Queue, type Scope } from "effect"
import { DEFINITIONS_CHANNEL } from "./internal/keys"
import { RedisConnection } from "./RedisConnection"

export interface DefinitionsKey {
  readonly tenant_id: string
  readonly agent_id: string
}

/** `all`: anything may have changed (messages may have been lost). */
export type DefinitionsChange =
  | { readonly all: false; readonly keys: ReadonlyArray<DefinitionsKey> }
  | { readonly all: true }

export type DefinitionsHandler = (change: DefinitionsChange) => Effect.Effect<void>

export interface DefinitionsChangesService {
  /** Runs the handlers here and announces the change to the other instances (best effort). */
  readonly publish: (keys: ReadonlyArray<DefinitionsKey>) => Effect.Effect<void>
  /** Completes once this instance listens to other instances' changes (at once without Redis). */
  readonly subscribed: Effect.Effect<void>
  /** Registers a handler for the lifetime of the scope. */
  readonly onChange: (handler: DefinitionsHandler) => Effect.Effect<void, never, Scope.Scope>
}

export class DefinitionsChanges extends Context.Tag("turnvault/DefinitionsChanges")<
  DefinitionsChanges,
  DefinitionsChangesService
>() {
  /** Without Redis: handlers still run for changes made by this instance. */
  static readonly local: Layer.Layer<DefinitionsChanges> = Layer.sync(DefinitionsChanges, () => {
    const handlers = new Set<DefinitionsHandler>()
    return {
      publish: (keys) => runAll(handlers, { all: false, keys }),
      subscribed: Effect.void,
      onChange: (handler) => register(handlers, handler)
    }
  })
}

const runAll = (handlers: ReadonlySet<DefinitionsHandler>, change: DefinitionsChange) =>
  Effect.forEach([...handlers], (handler) => Effect.catchAllCause(handler(change), Effect.logWarning), {
    discard: true
  })

const register = (handlers: Set<DefinitionsHandler>, handler: DefinitionsHandler) =>
  Effect.acquireRelease(
    Effect.sync(() => handlers.add(handler)),
    () => Effect.sync(() => handlers.delete(handler))
  ).pipe(Effect.asVoid)

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
  const handlers = new Set<DefinitionsHandler>()
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
    Effect.flatMap((change) => runAll(handlers, change)),
    Effect.forever,
    Effect.forkScoped
  )

  const publish = (keys: ReadonlyArray<DefinitionsKey>) =>
    runAll(handlers, { all: false, keys }).pipe(
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
    onChange: (handler) => register(handlers, handler)
  })
})

export const layer: Layer.Layer<DefinitionsChanges, never, RedisConnection> = Layer.scoped(
  DefinitionsChanges,
  make
)
