/**
 * OutputSink over Kafka: one idempotent producer (acks=all), acquired and released with the
 * layer. kafkajs's idempotent producer mis-sequences when several sends are in flight without
 * being awaited, so one sender fiber owns the producer and has one `sendBatch` in flight at a time.
 * Publishes that arrive while it is in flight wait together and go out as the next `sendBatch`
 * (a group commit, in arrival order, at most MAX_GROUP_BYTES unless one publish alone is larger,
 * which then goes out as several requests of at most MAX_GROUP_BYTES; a group that fails is sent
 * again one publish at a time). With one request per publish, sixteen
 * partitions' publishes queued behind each other and a publish waited about 250 ms at 1,000
 * turns/s (bench: batchStepDuration{*,publish}).
 * A publish completes when the send carrying its messages is acknowledged, and fails with it.
 * `groupedSink` is that sender, whatever the client; PlatformaticSink.ts gives it another request.
 */
import { Deferred, Duration, Effect, Exit, Layer, Queue } from "effect"
import { CompressionTypes, Partitioners } from "kafkajs"
import { type OutputMessage, OutputSink, OutputSinkError } from "../../ports/OutputSink"
import { KafkaClient } from "./KafkaClient"

/**
 * Bytes (keys, values, headers) of one grouped send, at most: the broker's default limit for one
 * partition's records in a request (1 MiB). A group spreads over the topics' partitions, so it
 * fits unless its keys crowd one partition; one the broker still refuses is sent again one
 * publish at a time (kafkajs's idempotent producer may then fail a few of them once more, and the
 * stream retries those). A cap of 512 KiB, safe for any single partition, made a backlog's sends
 * one publish each: the drain's publish step tripled (bench, one run).
 */
const MAX_GROUP_BYTES = 1024 * 1024

const bytesOf = (messages: ReadonlyArray<OutputMessage>) => {
  let bytes = 0
  for (const m of messages) {
    bytes += Buffer.byteLength(m.value) + (m.key === null ? 0 : Buffer.byteLength(m.key))
    for (const [name, value] of Object.entries(m.headers ?? {}))
      bytes += Buffer.byteLength(name) + Buffer.byteLength(value)
  }
  return bytes
}

interface Waiting {
  readonly messages: ReadonlyArray<OutputMessage>
  readonly bytes: number
  readonly done: Deferred.Deferred<void, OutputSinkError>
}

/** Consecutive runs of `messages` of at most MAX_GROUP_BYTES each; a larger message is a run alone. */
const chunksOf = (messages: ReadonlyArray<OutputMessage>): Array<ReadonlyArray<OutputMessage>> => {
  const chunks: Array<Array<OutputMessage>> = []
  let current: Array<OutputMessage> = []
  let bytes = 0
  for (const m of messages) {
    const size = bytesOf([m])
    if (current.length > 0 && bytes + size > MAX_GROUP_BYTES) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(m)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** The publishes of one send: those waiting, in order, until MAX_GROUP_BYTES; the rest wait on. */
const cut = (waiting: ReadonlyArray<Waiting>) => {
  let bytes = 0
  let i = 0
  while (i < waiting.length && (i === 0 || bytes + waiting[i]!.bytes <= MAX_GROUP_BYTES)) {
    bytes += waiting[i]!.bytes
    i += 1
  }
  return { group: waiting.slice(0, i), rest: waiting.slice(i) }
}

const topicMessagesOf = (messages: ReadonlyArray<OutputMessage>) => {
  const byTopic = new Map<
    string,
    Array<{ key: string | null; value: string | Buffer; headers?: Record<string, string> }>
  >()
  for (const m of messages) {
    const list = byTopic.get(m.topic) ?? []
    list.push(
      m.headers === undefined
        ? { key: m.key, value: m.value }
        : { key: m.key, value: m.value, headers: { ...m.headers } }
    )
    byTopic.set(m.topic, list)
  }
  return [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs }))
}

export const LOST_SEQUENCE = new Set([
  "OUT_OF_ORDER_SEQUENCE_NUMBER",
  "UNKNOWN_PRODUCER_ID",
  "INVALID_PRODUCER_EPOCH"
])

/** Whether a send failed because the broker no longer accepts the producer's id or sequence. */
export const sequenceLost = (cause: unknown): boolean => {
  for (let at = cause, depth = 0; typeof at === "object" && at !== null && depth < 8; depth++) {
    const error = at as { type?: unknown; originalError?: unknown; cause?: unknown }
    if (typeof error.type === "string" && LOST_SEQUENCE.has(error.type)) return true
    at = error.originalError ?? error.cause
  }
  return false
}

/** One request to the broker: resolves once every message in it is acknowledged. */
export type SendRequest = (messages: ReadonlyArray<OutputMessage>) => Effect.Effect<void, OutputSinkError>

/**
 * The OutputSink over a client's request: one sender fiber (forked in the caller's scope) owns
 * the client and has one request in flight; publishes that arrive meanwhile go out together as
 * the next one (see the module comment). Every Kafka client of the sink shares this part.
 */
export const groupedSink = (sendOne: SendRequest) =>
  Effect.gen(function* () {
    /**
     * Sends messages in order as consecutive requests of at most MAX_GROUP_BYTES each (a larger
     * message goes alone). A client puts one partition's messages of a request in one record batch,
     * which the broker checks against the topic's `max.message.bytes` (at least MAX_GROUP_BYTES plus
     * headroom on every topic turnvault creates): one large publish, such as a backlog's re-keyed
     * batch, no longer makes a batch the broker refuses for ever. A failed request fails the
     * publish; the requests before it were delivered, and the retry delivers them again
     * (consumers de-duplicate; the stateful stage recognises repeated events).
     */
    const send = (messages: ReadonlyArray<OutputMessage>) =>
      Effect.forEach(chunksOf(messages), sendOne, { discard: true })

    const pending = yield* Queue.unbounded<Waiting>()
    let carried: ReadonlyArray<Waiting> = []
    const sendNext = Effect.gen(function* () {
      const first = carried.length > 0 ? carried : [yield* Queue.take(pending)]
      const { group, rest } = cut([...first, ...(yield* Queue.takeAll(pending))])
      carried = rest
      const exit = yield* Effect.exit(send(group.flatMap((w) => w.messages)))
      if (Exit.isSuccess(exit) || group.length === 1) {
        for (const waiting of group) yield* Deferred.done(waiting.done, Exit.asVoid(exit))
        return
      }
      // One publish that cannot be sent (a record too large) must not fail the others with it:
      // a failed group is sent again one publish at a time, each with its own outcome.
      for (const waiting of group) {
        const alone = yield* Effect.exit(send(waiting.messages))
        yield* Deferred.done(waiting.done, Exit.asVoid(alone))
      }
    })
    // Released before the client (acquired after it): nothing is sending when it disconnects.
    yield* Effect.forkScoped(Effect.forever(sendNext))

    return OutputSink.of({
      publish: (messages) =>
        messages.length === 0
          ? Effect.void
          : Effect.gen(function* () {
              const done = yield* Deferred.make<void, OutputSinkError>()
              yield* Queue.offer(pending, { messages, bytes: bytesOf(messages), done })
              yield* Deferred.await(done)
            })
    })
  })

export const KafkaSinkLive = Layer.scoped(
  OutputSink,
  Effect.gen(function* () {
    const kafka = yield* KafkaClient
    // Unlimited retries: limiting them would let the idempotent producer lose its sequence (EoS)
    const makeProducer = () =>
      kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // murmur2, like Java clients: a key lands on the same partition whoever produces it
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 5_000 }
      })
    // Only the sender fiber (groupedSink) touches these: one send at a time.
    let producer = makeProducer()
    let connected = false
    const connect = Effect.tryPromise({
      try: async () => {
        if (connected) return
        await producer.connect()
        connected = true
      },
      catch: (cause) => new OutputSinkError({ cause })
    })
    yield* Effect.acquireRelease(connect, () =>
      Effect.promise(() => producer.disconnect()).pipe(Effect.timeout(Duration.seconds(10)), Effect.ignore)
    )

    /**
     * After a broker restart the broker may no longer know the producer's id or sequence, and
     * every send fails with OUT_OF_ORDER_SEQUENCE_NUMBER (or UNKNOWN_PRODUCER_ID), which kafkajs
     * does not retry: the fault suite saw a partition stop for good. A new producer (a new id)
     * starts a new sequence; what the old one may have written already is published again, which
     * consumers de-duplicate (by turn_id) and the stateful stage recognises.
     */
    const renew = Effect.gen(function* () {
      yield* Effect.logWarning(
        "the broker lost the producer's sequence (a restart?); recreating the producer"
      )
      const old = producer
      yield* Effect.promise(() => old.disconnect().catch(() => {}))
      producer = makeProducer()
      connected = false
    })

    return yield* groupedSink((messages) =>
      connect.pipe(
        Effect.zipRight(
          Effect.tryPromise({
            try: () =>
              producer.sendBatch({
                topicMessages: topicMessagesOf(messages),
                acks: -1,
                compression: CompressionTypes.None
              }),
            catch: (cause) => new OutputSinkError({ cause })
          })
        ),
        Effect.tapError((error) => (sequenceLost(error.cause) ? renew : Effect.void))
      )
    )
  })
)
