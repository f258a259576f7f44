/**
 * CheckpointWitness on Kafka: reads `turnvault.audit-checkpoints` from its first offset to the end
 * it had when the read began, with a consumer group of its own that commits nothing and is deleted
 * afterwards. A message that is not an AuditCheckpoint is skipped (verify checks signatures, and a
 * forged one could not be signed anyway).
 */
import { type Duration, Effect, Layer, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { AuditCheckpoint } from "../../../schemas/Audit"
import { CheckpointWitness, CheckpointWitnessError } from "../../ports/CheckpointStore"
import { KafkaClient } from "./KafkaClient"

const decode = Schema.decodeUnknownOption(Schema.parseJson(AuditCheckpoint))

export const make = (topic: string, timeout: Duration.DurationInput = "60 seconds") =>
  Effect.map(KafkaClient, (kafka) =>
    CheckpointWitness.of({
      read: () =>
        Effect.tryPromise({
          try: async () => {
            const admin = kafka.admin()
            await admin.connect()
            const groupId = `turnvault-verify-${randomUUID()}`
            try {
              if (!(await admin.listTopics()).includes(topic)) return []
              const ends = await admin.fetchTopicOffsets(topic)
              const waiting = new Map(
                ends.filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high)])
              )
              if (waiting.size === 0) return []
              const read: Array<AuditCheckpoint> = []
              const consumer = kafka.consumer({ groupId })
              await consumer.connect()
              try {
                await consumer.subscribe({ topic, fromBeginning: true })
                await new Promise<void>((resolve, reject) => {
                  consumer
                    .run({
                      autoCommit: false,
                      eachMessage: async ({ partition, message }) => {
                        const checkpoint = decode(message.value?.toString("utf8") ?? "")
                        if (checkpoint._tag === "Some") read.push(checkpoint.value)
                        const end = waiting.get(partition)
                        if (end !== undefined && BigInt(message.offset) + 1n >= end) waiting.delete(partition)
                        if (waiting.size === 0) resolve()
                      }
                    })
                    .catch(reject)
                })
              } finally {
                await consumer.disconnect()
              }
              return read
            } finally {
              await admin.deleteGroups([groupId]).catch(() => undefined)
              await admin.disconnect()
            }
          },
          catch: (cause) => new CheckpointWitnessError({ cause })
        }).pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => new CheckpointWitnessError({ cause: `no end of ${topic} within the timeout` })
          })
        )
    })
  )

export const layer = (topic: string): Layer.Layer<CheckpointWitness, never, KafkaClient> =>
  Layer.effect(CheckpointWitness, make(topic))
