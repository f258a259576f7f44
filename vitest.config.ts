import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: "forks",
    projects: [
      // Everything, on the default Kafka client (kafkajs, consumer and producer)
      { extends: true, test: { name: "default", include: ["test/**/*.test.ts"] } },
      // The Kafka reliability scenarios again with @platformatic/kafka as consumer and producer
      // (TURNVAULT_KAFKA_CONSUMER / _PRODUCER=platformatic), so the selectable client keeps its
      // guarantees (docs/decisions/0016-kafka-clients-side-by-side.md).
      {
        extends: true,
        test: {
          name: "platformatic",
          include: [
            "test/e2e/kafka-e2e.test.ts",
            "test/e2e/kafka-crash.test.ts",
            "test/e2e/kafka-group.test.ts",
            "test/e2e/kafka-pitfalls.test.ts"
          ],
          env: { TEST_KAFKA_CONSUMER: "platformatic", TEST_KAFKA_PRODUCER: "platformatic" }
        }
      }
    ]
  }
})
