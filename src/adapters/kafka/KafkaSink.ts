/**
 * OutputSink over Kafka: one idempotent producer (acks=all), acquired and released with the
 * layer. kafkajs's idempotent producer mis-sequences when several sends are in flight without
 * being awaited, so sends go through a one-permit semaphore: each call is one `sendBatch`
 * carrying a whole batch's outputs, awaited before the next starts.
 */
import { Duration, Effect, Layer } from "effect"
import { CompressionTypes, Partitioners } from "kafkajs"
import { OutputSink, OutputSinkError } from "../../ports/OutputSink"
import { KafkaClient } from "./KafkaClient"

export const KafkaSinkLive = Layer.scoped(
  OutputSink,
  Effect.gen(function* () {
    const kafka = yield* KafkaClient
    // Unlimited retries: limiting them would let the idempotent producer lose its sequence (EoS)
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // murmur2, like Java clients: a key lands on the same partition whoever produces it
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 5_000 }
    })
    yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => producer.connect(), catch: (cause) => new OutputSinkError({ cause }) }),
      () =>
        Effect.promise(() => producer.disconnect()).pipe(Effect.timeout(Duration.seconds(10)), Effect.ignore)
    )
    const permit = yield* Effect.makeSemaphore(1)
    return {
      publish: (messages) => {
        if (messages.length === 0) return Effect.void
        const byTopic = new Map<
          string,
          Array<{ key: string | null; value: string; headers?: Record<string, string> }>
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
        const topicMessages = [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs }))
        return permit
          .withPermits(1)(
            Effect.tryPromise({
              try: () => producer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None }),
              catch: (cause) => new OutputSinkError({ cause })
            })
          )
          .pipe(Effect.asVoid)
      }
    }
  })
)
