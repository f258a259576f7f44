/**
 * One Redis pub/sub channel between instances: what this instance publishes reaches the others'
 * `deliver`, in order, through a bounded inbox (the oldest message goes when it is full). Messages
 * carry an origin id, so an instance never handles its own twice (its publisher runs the local
 * handlers itself). ioredis resubscribes after a reconnect by itself; whatever was published
 * meanwhile is lost, which `onResubscribed` is told of.
 */
import { randomUUID } from "node:crypto"
import { Deferred, Effect, Exit, Queue, type Scope } from "effect"
import { type RedisCacheError, RedisConnection } from "../RedisConnection"

export interface ChannelOptions<A> {
  readonly name: string
  /** The payload of a message, or undefined when it is not one (it is skipped). */
  readonly decode: (payload: unknown) => A | undefined
  /** Runs each message from another instance, one at a time. */
  readonly deliver: (message: A) => Effect.Effect<void>
  /** Runs after a resubscription (messages may have been missed meanwhile). */
  readonly onResubscribed: Effect.Effect<void>
}

export interface Channel<A> {
  readonly publish: (message: A) => Effect.Effect<void, RedisCacheError>
  /** Completes once this instance listens to the channel. */
  readonly subscribed: Effect.Effect<void>
}

type Inbound<A> = { readonly kind: "message"; readonly message: A } | { readonly kind: "resubscribed" }

export const makeChannel = <A>(
  options: ChannelOptions<A>
): Effect.Effect<Channel<A>, never, RedisConnection | Scope.Scope> =>
  Effect.gen(function* () {
    const conn = yield* RedisConnection
    const origin = randomUUID()
    const inbox = yield* Queue.sliding<Inbound<A>>(1_000)
    const subscriber = conn.subscriber
    const subscribed = yield* Deferred.make<void>()
    let subscribedOnce = false
    subscriber.on("message", (channel: string, text: string) => {
      if (channel !== options.name) return
      let envelope: { origin?: unknown; payload?: unknown }
      try {
        envelope = JSON.parse(text) as typeof envelope
      } catch {
        return
      }
      if (envelope.origin === origin || typeof envelope.origin !== "string") return
      const message = options.decode(envelope.payload)
      if (message !== undefined) Queue.unsafeOffer(inbox, { kind: "message", message })
    })
    subscriber.on("ready", () => {
      if (subscribedOnce) Queue.unsafeOffer(inbox, { kind: "resubscribed" })
    })
    // With its offline queue the subscriber sends SUBSCRIBE once connected, however late that is.
    yield* Effect.sync(() =>
      subscriber.subscribe(options.name).then(
        () => {
          subscribedOnce = true
          Deferred.unsafeDone(subscribed, Exit.void)
        },
        () => {}
      )
    )
    yield* Queue.take(inbox).pipe(
      Effect.flatMap((inbound) =>
        inbound.kind === "message" ? options.deliver(inbound.message) : options.onResubscribed
      ),
      Effect.forever,
      Effect.forkScoped
    )
    return {
      publish: (message: A) =>
        conn
          .command("publish", (c) => c.publish(options.name, JSON.stringify({ origin, payload: message })))
          .pipe(Effect.asVoid),
      subscribed: Deferred.await(subscribed)
    }
  })
