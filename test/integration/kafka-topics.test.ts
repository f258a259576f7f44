/**
 * `ensureTopics` on a real broker: missing topics are created with the catalogue's settings; an
 * existing topic made by hand with fewer partitions or a smaller `max.message.bytes` is reported,
 * never changed.
 */
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { Kafka, logLevel } from "kafkajs"
import { describe, expect, it } from "vitest"
import { topicCatalogue, topicNames } from "../../streams/topics"
import { KafkaClient } from "../../src/adapters/kafka/KafkaClient"
import { ensureTopics } from "../../src/adapters/kafka/KafkaTopics"
import { KAFKA_UP_TIMEOUT_MS, kafkaBrokers } from "../support/kafka"

describe("topics ensure", () => {
  it(
    "creates what is missing and reports hand-made topics that are too small, changing nothing",
    async () => {
      const brokers = await kafkaBrokers()
      const prefix = `it-topics-${randomUUID().slice(0, 8)}.`
      const names = topicNames(prefix)
      const admin = new Kafka({ clientId: "it-topics", brokers, logLevel: logLevel.NOTHING }).admin()
      await admin.connect()
      try {
        // made by hand with the broker's defaults: 1 partition, max.message.bytes about 1 MiB
        await admin.createTopics({
          waitForLeaders: true,
          topics: [{ topic: names.turnRecords, numPartitions: 1 }]
        })
        const catalogue = topicCatalogue(prefix, 2)
        const report = await Effect.runPromise(
          ensureTopics(catalogue).pipe(Effect.provide(KafkaClient.layer({ brokers, clientId: "it-topics" })))
        )
        expect([...report.created].sort()).toEqual(
          catalogue
            .map((t) => t.name)
            .filter((n) => n !== names.turnRecords)
            .sort()
        )
        expect(report.mismatched).toEqual([{ name: names.turnRecords, expected: 2, actual: 1 }])
        const wanted = catalogue.find((t) => t.name === names.turnRecords)!.maxMessageBytes
        expect(report.tooSmall).toEqual([
          {
            name: names.turnRecords,
            expectedMaxMessageBytes: wanted,
            actualMaxMessageBytes: expect.any(Number)
          }
        ])
        expect(report.tooSmall[0]!.actualMaxMessageBytes).toBeLessThan(wanted)
        // a second run finds every topic: the ones it created are as catalogued
        const again = await Effect.runPromise(
          ensureTopics(catalogue).pipe(Effect.provide(KafkaClient.layer({ brokers, clientId: "it-topics" })))
        )
        expect(again.created).toEqual([])
        expect(again.tooSmall.map((t) => t.name)).toEqual([names.turnRecords])
      } finally {
        await admin.deleteTopics({ topics: topicCatalogue(prefix, 2).map((t) => t.name) }).catch(() => {})
        await admin.disconnect()
      }
    },
    KAFKA_UP_TIMEOUT_MS
  )
})
