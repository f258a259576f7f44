/**
 * Creates the catalogue's missing topics when TURNVAULT_ENSURE_TOPICS (Kafka mode of `start` and
 * `ingest`). A broker that is down is waited for, as the consumer does: exiting would only restart
 * into the same outage.
 */
import { Effect, Schedule } from "effect"
import { topicCatalogue } from "../../../streams/topics"
import { ensureTopics } from "../../adapters/kafka/KafkaTopics"
import type { AppConfig } from "../../config/AppConfig"

export const ensureCatalogue = (config: AppConfig) =>
  Effect.gen(function* () {
    if (!config.ensureTopics) return
    const report = yield* ensureTopics(
      topicCatalogue(config.topicPrefix, config.partitions, config.maxEventBytes)
    ).pipe(
      Effect.tapError((error) =>
        Effect.logWarning("topics not ensured (is the broker up?); retrying in 5 s", {
          operation: error.operation,
          error: String(error.cause)
        })
      ),
      Effect.retry(Schedule.spaced("5 seconds"))
    )
    yield* Effect.logInfo("topics ensured", report)
    if (report.tooSmall.length > 0)
      yield* Effect.logWarning(
        "topics accept smaller messages than turnvault may publish: raise their max.message.bytes (docs/TOPICS.md)",
        report.tooSmall
      )
  })
