/**
 * Layer assembly: which adapter backs each port, from the configuration. The composition root
 * (src/app/main.ts, with the commands in src/app/commands) provides these layers and runs the
 * programs; nothing here runs anything.
 */
import { Duration, Layer, Option } from "effect"
import { ActorRegistry } from "../sessions/ActorRegistry"
import { type AppConfig, partitionsConcurrently } from "../config/AppConfig"
import { KafkaClient } from "../adapters/kafka/KafkaClient"
import { KafkaSinkLive } from "../adapters/kafka/KafkaSink"
import { PlatformaticSinkLive } from "../adapters/kafka/PlatformaticSink"
import { KafkaSourceLive } from "../adapters/kafka/KafkaSource"
import { PlatformaticSourceLive } from "../adapters/kafka/PlatformaticSource"
import type { ConsumerProgress } from "../observability/ConsumerProgress"
import { InProcessLog } from "../adapters/embedded/InProcessLog"
import { Persistence } from "../batch/Persistence"
import { TurnBatch } from "../batch/TurnBatch"
import { EmbeddedSinkLive } from "../adapters/embedded/EmbeddedSink"
import { withFileDeadLetters } from "../adapters/file/FileDeadLetters"
import { TelemetryBuffer } from "../observability/TelemetryBuffer"
import { withOptionalRedisCache } from "../adapters/redis"
import { DefinitionsHotReload } from "../sessions/DefinitionsHotReload"
import { ItemsForget } from "../sessions/ItemsForget"
import { memoryStoresWith } from "../adapters/embedded"
import { withSealing } from "../privacy/SealedProfileStore"
import { taskTextsLayer, withSealedTexts } from "../privacy/SealedTexts"
import { DEFAULT_SEALING } from "../privacy/keyCache"
import type { OutputSink } from "../ports/OutputSink"
import type { CustomerKeys } from "../ports/CustomerKeys"
import { outputValueBytes, topicNames } from "../../streams/topics"
import { TurnStream } from "../../streams/TurnStream"
import type { Metrics } from "../observability/Metrics"
import { configuredKek, postgresStores } from "./postgresStores"

/**
 * The stores: PostgreSQL when DATABASE_URL is set, else the in-memory embedded default; Redis in
 * front when REDIS_URL is set; and, with TURNVAULT_KEK, PII values sealed in front of both.
 */
export const storesLayer = (config: AppConfig) => {
  const stores = Option.match(config.databaseUrl, {
    onNone: () => memoryStoresWith(configuredKek(config)),
    onSome: (url) => postgresStores(url, config)
  }).pipe(withOptionalRedisCache(config.redisUrl))
  return Option.isSome(config.kek) ? withSealing(sealingOptions(config))(stores) : stores
}

/** The embedded log and output sink (used when KAFKA_BROKERS is unset). */
export const embeddedLogLayer = (config: AppConfig) => {
  const log = InProcessLog.layer({ partitions: config.partitions, retainRecords: 100_000 })
  return Layer.merge(log, Layer.provide(EmbeddedSinkLive, log))
}

/**
 * The log of `process`: the embedded log's output sink, with the dead letters kept for
 * `dlq.jsonl` (FileDeadLetters) instead of appended to the log.
 */
export const fileLogLayer = (config: AppConfig) => {
  const log = InProcessLog.layer({ partitions: config.partitions, retainRecords: 100_000 })
  const sink = Layer.provide(withFileDeadLetters(topicNames(config.topicPrefix).dlq), EmbeddedSinkLive)
  return Layer.merge(log, Layer.provide(sink, log))
}

/**
 * The Kafka source of `start`: one consumer for both stages, the input (re-keyed by customer) and
 * the by-customer topic, with heartbeats every tenth of the session timeout; kafkajs's or
 * @platformatic/kafka's consumer (TURNVAULT_KAFKA_CONSUMER).
 */
export const kafkaSourceLayer = (
  config: AppConfig,
  brokers: ReadonlyArray<string>,
  progress: ConsumerProgress,
  group = config.consumerGroup
) => {
  const topics = topicNames(config.topicPrefix)
  const common = {
    topics: [topics.turnEvents, topics.byCustomer],
    group,
    batchSize: config.batchSize,
    sessionTimeoutMs: config.kafkaSessionTimeoutMs,
    heartbeatIntervalMs: Math.max(500, Math.floor(config.kafkaSessionTimeoutMs / 10)),
    progress
  }
  return config.kafkaConsumer === "platformatic"
    ? PlatformaticSourceLive({ ...common, brokers, clientId: "turnvault" })
    : KafkaSourceLive({ ...common, partitionsConcurrently: partitionsConcurrently(config) })
}

export const kafkaClientLayer = (brokers: ReadonlyArray<string>) =>
  KafkaClient.layer({ brokers, clientId: "turnvault" })

/**
 * Kafka client and the Kafka output sink (used when KAFKA_BROKERS is set): the sink's producer is
 * kafkajs's or @platformatic/kafka's (TURNVAULT_KAFKA_PRODUCER); the admin is kafkajs.
 */
export const kafkaLogLayer = (
  brokers: ReadonlyArray<string>,
  producer: AppConfig["kafkaProducer"] = "kafkajs"
) =>
  producer === "kafkajs"
    ? Layer.provideMerge(KafkaSinkLive, kafkaClientLayer(brokers))
    : Layer.merge(PlatformaticSinkLive({ brokers, clientId: "turnvault" }), kafkaClientLayer(brokers))

/**
 * The turn pipeline over given stores and output sink: actors, persistence, telemetry buffer, the
 * batch core and the stream (which runs on whichever EventSource the command provides).
 */
export const pipelineLayer = (config: AppConfig) => {
  const topics = topicNames(config.topicPrefix)
  const registry = ActorRegistry.layer({
    idleTimeoutMs: config.actorIdleMs,
    maxActors: config.maxActors,
    definitionsTtlMs: config.definitionsTtlMs,
    maxHistory: config.maxHistoryEntries
  })
  const persistence = Persistence.layer({
    sequential: config.sequentialPersistence,
    retryBaseDelay: Duration.millis(config.retryBaseMs),
    retryMaxDelay: Duration.millis(config.retryMaxMs),
    maxAttempts: config.retryAttempts
  })
  const telemetry = TelemetryBuffer.layer({
    capacity: config.telemetryBuffer,
    flushChunk: 500,
    topic: topics.telemetry
  })
  const core = TurnBatch.layer({
    topics,
    maxOutputBytes: outputValueBytes(config.maxEventBytes),
    defaultMode: config.validationMode,
    maxHistory: config.maxHistoryEntries,
    persistProfile: config.customerDataPersistence,
    activateUnreviewed: config.extractionReview === "activate",
    memoryIngestion: config.memoryIngestion,
    sessionCleanupOnEnd: config.sessionCleanupOnEnd
  })
  const stream = TurnStream.layer({
    topics,
    group: config.consumerGroup,
    maxEventBytes: config.maxEventBytes,
    quarantineAfter: config.quarantineAfter,
    pauseDelay: Duration.millis(config.pauseMs)
  })
  return Layer.provideMerge(
    stream,
    Layer.provideMerge(core, Layer.mergeAll(registry, persistence, telemetry))
  )
}

export type PipelineRequirements = Metrics

/**
 * The whole pipeline over the configured stores and the given log: also wires definition changes
 * and rows made inactive outside the stream (Redis pub/sub, or local) to the actors, so a running
 * service picks them up at once.
 */
export const serviceLayer = <ROut, E>(config: AppConfig, log: Layer.Layer<ROut | OutputSink, E>) =>
  Layer.provideMerge(Layer.merge(DefinitionsHotReload, ItemsForget), pipelineLayer(config)).pipe(
    Layer.provideMerge(withTexts(config)(Layer.mergeAll(storesLayer(config), log)))
  )

const sealingOptions = (config: AppConfig) => ({ ...DEFAULT_SEALING, cacheTtlMs: config.keyCacheTtlMs })

/**
 * With TURNVAULT_KEK: the output sink seals the memory-ingestion tasks' texts, and TaskTexts opens
 * them (for the ingest worker); without, the layer as it is.
 */
export const withTexts =
  (config: AppConfig) =>
  <ROut, E, R>(layer: Layer.Layer<ROut | OutputSink | CustomerKeys, E, R>) =>
    Option.isSome(config.kek)
      ? withSealedTexts(
          topicNames(config.topicPrefix).memoryIngestion,
          sealingOptions(config)
        )(Layer.provideMerge(taskTextsLayer(sealingOptions(config)), layer))
      : layer
