/**
 * `turnvault/producer`: the typed way for a TypeScript agent runtime to publish turn events.
 *
 * - Builders (`turnCompleted`, `sessionEnded`, `caseClosed`) take the fields of an event type as
 *   the Effect Schemas of schemas/TurnEvent.ts type them, and fill what a producer should not have
 *   to write (schema_version, event_type, an event_id, occurred_at = now, the empty lists).
 * - `send` checks an event with the very decoder turnvault's consumer runs (streams/decode.ts:
 *   size, JSON, schema, the rules beyond it) before anything reaches the broker: a bad event is a
 *   `TurnEventRejected` at the call site, with the reason and detail the DLQ would have given.
 * - Messages are keyed by session_id and placed by murmur2 like the Java client (and kcat with
 *   `partitioner=murmur2_random`), through turnvault's own Kafka sink: one idempotent producer,
 *   acks=all, one request in flight, the sends that wait meanwhile grouped into the next request.
 * - At most `maxPendingEvents` events are unacknowledged; a `send` beyond that waits its turn
 *   (backpressure; order is kept), `flush` waits for every pending event, `close` flushes and
 *   disconnects.
 */
import { randomUUID } from "node:crypto"
import { Effect, Either, Exit, Fiber, Layer, ManagedRuntime, Runtime } from "effect"
import type { KafkaConfig } from "kafkajs"
import type { CaseClosed, SessionEnded, TurnCompleted, TurnEvent } from "../schemas"
import { KafkaClient } from "../src/adapters/kafka/KafkaClient"
import { KafkaSinkLive } from "../src/adapters/kafka/KafkaSink"
import { OutputSink } from "../src/ports/OutputSink"
import { DEFAULT_MAX_EVENT_BYTES, type DecodeFailure, decodeRecordValue, tooLarge } from "../streams/decode"
import { topicNames } from "../streams/topics"

export type { CaseClosed, SessionEnded, TurnCompleted, TurnEvent } from "../schemas"

/** The fields a builder fills when they are not given. */
type Filled = "schema_version" | "event_type" | "event_id" | "occurred_at"
type Optional<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>

export type TurnCompletedInput = Optional<
  Omit<TurnCompleted, "schema_version" | "event_type">,
  | "event_id"
  | "occurred_at"
  | "candidate_variables"
  | "matched_rules"
  | "scenario"
  | "tool_executions"
  | "enforcement"
>
export type SessionEndedInput = Optional<
  Omit<SessionEnded, "schema_version" | "event_type">,
  Exclude<Filled, "schema_version" | "event_type">
>
export type CaseClosedInput = Optional<
  Omit<CaseClosed, "schema_version" | "event_type">,
  Exclude<Filled, "schema_version" | "event_type">
>

const stamped = (input: { readonly event_id?: string; readonly occurred_at?: string }) => ({
  event_id: input.event_id ?? randomUUID(),
  occurred_at: input.occurred_at ?? new Date().toISOString()
})

/** A `turn.completed` event: a turn's messages, decisions and candidate variables. */
export const turnCompleted = (input: TurnCompletedInput): TurnCompleted => ({
  schema_version: 1,
  event_type: "turn.completed",
  candidate_variables: {},
  matched_rules: [],
  scenario: null,
  tool_executions: [],
  enforcement: null,
  ...input,
  ...stamped(input)
})

/** A `session.ended` event: the session ends (ENDED) or is abandoned (ABANDONED). */
export const sessionEnded = (input: SessionEndedInput): SessionEnded => ({
  schema_version: 1,
  event_type: "session.ended",
  ...input,
  ...stamped(input)
})

/** A `case.closed` event: the case's CASE-scoped fields expire. */
export const caseClosed = (input: CaseClosedInput): CaseClosed => ({
  schema_version: 1,
  event_type: "case.closed",
  ...input,
  ...stamped(input)
})

/** An event turnvault would dead-letter: why (the DLQ's reason) and where (field paths, no values). */
export class TurnEventRejected extends Error {
  readonly _tag = "TurnEventRejected"
  constructor(
    readonly reason: DecodeFailure["reason"],
    readonly detail: string
  ) {
    super(`turn event rejected (${reason}): ${detail}`)
    this.name = "TurnEventRejected"
  }
}

/** The brokers could not be reached, one did not take an event (after retries), or the producer is closed. */
export class ProducerError extends Error {
  readonly _tag = "ProducerError"
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super(message, options)
    this.name = "ProducerError"
  }
}

/** A checked event: the JSON text that goes on the wire and its key. */
export interface CheckedEvent {
  readonly key: string
  readonly value: string
  readonly event: TurnEvent
}

/**
 * The consumer's verdict on an event, before it is sent: the wire form, or the rejection it would
 * dead-letter with. Anything JSON.stringify cannot write (a cycle, a BigInt) is `malformed_json`.
 */
export const checkTurnEvent = (
  event: unknown,
  maxEventBytes: number = DEFAULT_MAX_EVENT_BYTES
): Either.Either<CheckedEvent, TurnEventRejected> => {
  let value: string | undefined
  try {
    value = JSON.stringify(event)
  } catch (cause) {
    return Either.left(new TurnEventRejected("malformed_json", `not serialisable as JSON: ${String(cause)}`))
  }
  if (value === undefined) return Either.left(new TurnEventRejected("malformed_json", "not a JSON value"))
  const key =
    typeof event === "object" && event !== null ? (event as { session_id?: unknown }).session_id : undefined
  const bytes = Buffer.from(value, "utf8")
  const large = tooLarge(bytes, maxEventBytes, typeof key === "string" ? key : null)
  if (large !== null) return Either.left(new TurnEventRejected(large.reason, large.detail))
  return decodeRecordValue(bytes, maxEventBytes).pipe(
    Either.mapLeft((failure) => new TurnEventRejected(failure.reason, failure.detail)),
    Either.map((decoded) => ({ key: decoded.session_id, value, event: decoded }))
  )
}

export interface ProducerOptions {
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: ReadonlyArray<string>
  /** Default `turnvault-producer`. */
  readonly clientId?: string
  /** The input topic; default `turnvault.turn-events` (turnvault's default prefix). */
  readonly topic?: string
  /** The consumer's TURNVAULT_MAX_EVENT_BYTES; default 1 MiB. */
  readonly maxEventBytes?: number
  /** Unacknowledged events at most before `send` waits; default 10,000. */
  readonly maxPendingEvents?: number
  /** TLS, SASL and timeouts, as kafkajs takes them. */
  readonly connection?: Pick<KafkaConfig, "ssl" | "sasl" | "connectionTimeout" | "requestTimeout">
}

export interface TurnvaultProducer {
  /**
   * Checks and publishes one event; resolves when the broker has acknowledged it. Rejects with
   * `TurnEventRejected` (nothing was sent) or `ProducerError`. Events of one session are
   * published in the order of their `send` calls.
   */
  readonly send: (event: TurnEvent) => Promise<void>
  /** Resolves when every event sent so far is acknowledged or has failed. */
  readonly flush: () => Promise<void>
  /** Refuses new sends, flushes, then disconnects. */
  readonly close: () => Promise<void>
  /** Events sent and not yet acknowledged (waiting ones included). */
  readonly pending: () => number
}

/** Connects an idempotent producer to the brokers; rejects when none can be reached. */
export const connectProducer = async (options: ProducerOptions): Promise<TurnvaultProducer> => {
  const topic = options.topic ?? topicNames("turnvault.").turnEvents
  const maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES
  const maxPending = Math.max(1, options.maxPendingEvents ?? 10_000)
  const managed = ManagedRuntime.make(
    KafkaSinkLive.pipe(
      Layer.provide(
        KafkaClient.layer({
          brokers: options.brokers,
          clientId: options.clientId ?? "turnvault-producer",
          ...(options.connection === undefined ? {} : { connection: options.connection })
        })
      )
    )
  )
  const runtime = await managed.runtime().catch(async (cause: unknown) => {
    await managed.dispose()
    throw new ProducerError(`could not connect to ${options.brokers.join(",")}`, { cause })
  })
  const sink = Runtime.runSync(runtime)(OutputSink)

  /**
   * Starts a publish. The fiber runs at once (`immediate`) up to the sink's queue, so publishes
   * enter it in the order of the calls, and with them each session's events.
   */
  const publish = (checked: CheckedEvent): Promise<void> => {
    const fiber = Runtime.runFork(runtime)(
      sink.publish([{ topic, key: checked.key, value: checked.value }]),
      { immediate: true }
    )
    return Runtime.runPromise(runtime)(Fiber.await(fiber)).then((exit) => {
      if (Exit.isSuccess(exit)) return
      throw new ProducerError(`the broker did not take the event ${checked.event.event_id}`, {
        cause: Exit.isFailure(exit) ? exit.cause : undefined
      })
    })
  }

  // Backpressure: `inFlight` publishes at most; the rest wait in call order (FIFO).
  let inFlight = 0
  const waiting: Array<() => void> = []
  const outstanding = new Set<Promise<void>>()
  let closed = false

  const started = (checked: CheckedEvent): Promise<void> => {
    inFlight += 1
    return publish(checked).finally(() => {
      inFlight -= 1
      waiting.shift()?.()
    })
  }

  const send = (event: TurnEvent): Promise<void> => {
    if (closed) return Promise.reject(new ProducerError("the producer is closed"))
    const checked = checkTurnEvent(event, maxEventBytes)
    if (Either.isLeft(checked)) return Promise.reject(checked.left)
    const done =
      inFlight < maxPending && waiting.length === 0
        ? started(checked.right)
        : new Promise<void>((resolve, reject) => {
            waiting.push(() => started(checked.right).then(resolve, reject))
          })
    outstanding.add(done)
    const forget = () => outstanding.delete(done)
    done.then(forget, forget)
    return done
  }

  const flush = async () => {
    while (outstanding.size > 0) await Promise.allSettled([...outstanding])
  }

  return {
    send,
    flush,
    close: async () => {
      closed = true
      await flush()
      await managed.dispose()
    },
    pending: () => outstanding.size
  }
}

/** The same as `connectProducer`, as a scoped Effect: closed when the scope closes. */
export const producer = (options: ProducerOptions) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => connectProducer(options),
      catch: (cause) =>
        cause instanceof ProducerError ? cause : new ProducerError("could not connect", { cause })
    }),
    (p) => Effect.promise(() => p.close())
  )
