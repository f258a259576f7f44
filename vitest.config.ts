import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: "forks",
    projects: [
      // Everything, on the default Kafka client (@platformatic/kafka, consumer and producer)
      { extends: true, test: { name: "default", include: ["test/**/*.test.ts"] } },
      // The Kafka reliability scenarios again with kafkajs as consumer and producer
      // (TURNVAULT_KAFKA_CONSUMER / _PRODUCER=kafkajs): a client stays selectable only while it
      // keeps every guarantee (docs/decisions/0016-platformatic-kafka-by-default.md).
      {
        extends: true,
        test: {
          name: "kafkajs",
          include: [
            "test/e2e/kafka-e2e.test.ts",
            "test/e2e/kafka-crash.test.ts",
            "test/e2e/kafka-group.test.ts",
            "test/e2e/kafka-pitfalls.test.ts"
          ],
          env: { TEST_KAFKA_CONSUMER: "kafkajs", TEST_KAFKA_PRODUCER: "kafkajs" }
        }
      }
    ]
  }
})
