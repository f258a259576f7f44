/**
 * OutputSink over @platformatic/kafka (TURNVAULT_KAFKA_PRODUCER=platformatic): the maintained
 * client, measured against kafkajs in bench/kafka-clients.bench.ts. The same grouped sender as
 * KafkaSinkLive (one idempotent producer, acks=all, one request in flight, publishes that wait
 * meanwhile sent together); only the request differs.
 *
 * Its default partitioner is murmur2 read as an unsigned number, which puts about half the keys
 * on another partition than Java's `(murmur2 & 0x7fffffff) % n` whenever n is not a power of two
 * (the bench measures it); `compatibilityPartitioner` is Java's, so that a key lands where kcat's,
 * kafkajs's and the Java client's land.
 */
import { compatibilityPartitioner, Producer, stringSerializers } from "@platformatic/kafka"
import { Duration, Effect, Layer } from "effect"
import { type OutputMessage, OutputSink, OutputSinkError } from "../../ports/OutputSink"
import { groupedSink, LOST_SEQUENCE } from "./KafkaSink"

export interface PlatformaticSinkConfig {
  readonly brokers: ReadonlyArray<string>
  readonly clientId: string
}

/** Whether a send failed because the broker no longer accepts the producer's id or sequence. */
const sequenceLost = (cause: unknown, depth = 0): boolean => {
  if (typeof cause !== "object" || cause === null || depth > 8) return false
  const error = cause as { apiId?: unknown; errors?: unknown; cause?: unknown }
  if (typeof error.apiId === "string" && LOST_SEQUENCE.has(error.apiId)) return true
  if (Array.isArray(error.errors) && error.errors.some((e) => sequenceLost(e, depth + 1))) return true
  return sequenceLost(error.cause, depth + 1)
}

const recordOf = (m: OutputMessage) => ({
  topic: m.topic,
  ...(m.key === null ? {} : { key: m.key }),
  // a Buffer value (a repartitioned event, a dead letter) passes as it is
  value: m.value,
  ...(m.headers === undefined ? {} : { headers: { ...m.headers } })
})

export const PlatformaticSinkLive = (config: PlatformaticSinkConfig) =>
  Layer.scoped(
    OutputSink,
    Effect.gen(function* () {
      const makeProducer = () =>
        new Producer({
          clientId: config.clientId,
          bootstrapBrokers: [...config.brokers],
          serializers: {
            ...stringSerializers,
            value: (value?: string | Buffer) =>
              value === undefined ? undefined : Buffer.isBuffer(value) ? value : Buffer.from(value, "utf8")
          },
          idempotent: true,
          acks: -1,
          partitioner: compatibilityPartitioner,
          autocreateTopics: false,
          retries: Number.MAX_SAFE_INTEGER,
          retryDelay: 250
        })
      // Only the sender fiber (groupedSink) touches it: one send at a time.
      let producer = makeProducer()
      yield* Effect.addFinalizer(() =>
        Effect.promise(() => producer.close()).pipe(Effect.timeout(Duration.seconds(10)), Effect.ignore)
      )
      // Connect now, so that an unreachable broker fails the layer as kafkajs's connect does.
      yield* Effect.tryPromise({
        try: () => producer.metadata({ topics: [] }),
        catch: (cause) => new OutputSinkError({ cause })
      })
      yield* Effect.logInfo("output producer: @platformatic/kafka (TURNVAULT_KAFKA_PRODUCER=platformatic)")

      const renew = Effect.gen(function* () {
        yield* Effect.logWarning(
          "the broker lost the producer's sequence (a restart?); recreating the producer"
        )
        const old = producer
        yield* Effect.promise(() => old.close().catch(() => {}))
        producer = makeProducer()
      })

      return yield* groupedSink((messages) =>
        Effect.tryPromise({
          try: () => producer.send({ messages: messages.map(recordOf) }),
          catch: (cause) => new OutputSinkError({ cause })
        }).pipe(Effect.tapError((error) => (sequenceLost(error.cause) ? renew : Effect.void)))
      )
    })
  )
