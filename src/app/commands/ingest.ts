/**
 * `turnvault ingest`: the memory-ingestion worker (issue 15), a second deployable of the package.
 * It consumes `turnvault.memory-ingestion` in its own group (TURNVAULT_INGEST_GROUP), asks a model
 * (TURNVAULT_LLM_BASE_URL; unset: the embedded extractor of each field's `extraction_hints`) and
 * publishes what it found back onto `turnvault.turn-events` as `extraction.completed` events, so
 * a slow model never slows the turn pipeline. SIGTERM interrupts the chunk in flight (its offsets
 * stay uncommitted; its results make redoing it a no-op) and leaves the group.
 */
import { Effect, Layer, Option } from "effect"
import { topicNames } from "../../../streams/topics"
import { consumeEmbeddedTasks } from "../../adapters/embedded/EmbeddedIngest"
import * as HintsMemoryModel from "../../adapters/embedded/HintsMemoryModel"
import { consumeIngestTasks } from "../../adapters/kafka/IngestConsumer"
import * as ChatMemoryModel from "../../adapters/llm/ChatMemoryModel"
import * as OpenAiCompatible from "../../adapters/llm/OpenAiCompatible"
import type { AppConfig } from "../../config/AppConfig"
import { makeIngestWorker } from "../../ingest/IngestWorker"
import { ensureCatalogue } from "./ensureCatalogue"
import { IngestMetrics } from "../../observability/IngestMetrics"
import { MemoryModel } from "../../ports/MemoryModel"

/** The model of the worker: an OpenAI-compatible endpoint when configured, else the embedded one. */
export const memoryModelLayer = (config: AppConfig) =>
  Layer.succeed(
    MemoryModel,
    Option.match(config.llmBaseUrl, {
      onNone: () => HintsMemoryModel.make(),
      onSome: (baseUrl) =>
        ChatMemoryModel.make(
          OpenAiCompatible.make({
            baseUrl,
            model: config.llmModel,
            apiKey: config.llmApiKey,
            timeoutMs: config.llmTimeoutMs
          })
        )
    })
  )

const workerOf = (config: AppConfig) => {
  const topics = topicNames(config.topicPrefix)
  return makeIngestWorker({
    turnEventsTopic: topics.turnEvents,
    dlqTopic: topics.memoryIngestionDlq,
    attempts: config.ingestAttempts,
    retryBaseMs: config.ingestRetryBaseMs,
    tenantConcurrency: config.ingestTenantConcurrency,
    summaries: config.ingestSummaries
  })
}

/**
 * The worker inside `turnvault start` on embedded defaults (TURNVAULT_INGEST_EMBEDDED): the same
 * core over the in-process log, so the embedded service shows the whole loop offline.
 */
export const runEmbeddedIngest = (config: AppConfig) =>
  Effect.gen(function* () {
    const worker = yield* workerOf(config)
    const metrics = yield* IngestMetrics
    yield* consumeEmbeddedTasks(
      {
        topic: topicNames(config.topicPrefix).memoryIngestion,
        group: config.ingestGroup,
        chunk: config.ingestChunk,
        idlePoll: "50 millis",
        onLag: (partition, lag) => metrics.lag.set({ partition: String(partition) }, lag)
      },
      (records) => worker.handle(records)
    )
  })

export const runIngest = (config: AppConfig) =>
  Effect.gen(function* () {
    const topics = topicNames(config.topicPrefix)
    yield* ensureCatalogue(config)
    const worker = yield* workerOf(config)
    const metrics = yield* IngestMetrics
    yield* Effect.logInfo("turnvault ingest consuming memory-ingestion tasks", {
      topic: topics.memoryIngestion,
      group: config.ingestGroup,
      model: Option.isSome(config.llmBaseUrl) ? config.llmModel : HintsMemoryModel.MODEL,
      http: config.ingestHttpPort
    })
    yield* consumeIngestTasks(
      {
        topic: topics.memoryIngestion,
        group: config.ingestGroup,
        chunk: config.ingestChunk,
        sessionTimeoutMs: config.kafkaSessionTimeoutMs,
        partitionsConcurrently: config.partitions,
        onLag: (partition, lag) => metrics.lag.set({ partition: String(partition) }, lag)
      },
      (records) => worker.handle(records)
    )
  }).pipe(
    Effect.onInterrupt(() =>
      Effect.logInfo("turnvault ingest stopped: left the group; a chunk in flight stays uncommitted")
    )
  )
