/**
 * `turnvault start`: the service. With KAFKA_BROKERS it consumes the turn-events topic; on
 * embedded defaults it feeds itself synthetic traffic through the in-process log. Either way it
 * prints a one-line progress summary every few seconds, passivates idle actors and runs the
 * background jobs on their schedule (src/jobs, unless TURNVAULT_JOBS=false). Interrupting it
 * (SIGINT/SIGTERM) stops consuming first, lets in-flight batches finish, then flushes buffers and
 * closes stores (layer finalizers run in reverse order of acquisition).
 */
import { Console, Duration, Effect, Schedule, Schema } from "effect"
import { FieldDefinition } from "../../../schemas"
import { TurnStream } from "../../../streams/TurnStream"
import { EmbeddedSourceLive } from "../../adapters/embedded/EmbeddedSource"
import { topicNames } from "../../../streams/topics"
import { ActorRegistry } from "../../sessions/ActorRegistry"
import type { AppConfig } from "../../config/AppConfig"
import type { ConsumerProgress } from "../../observability/ConsumerProgress"
import { InProcessLog } from "../../adapters/embedded/InProcessLog"
import { ProfileStore } from "../../ports/ProfileStore"
import { syntheticDefinitions } from "../../dev/definitions"
import { defaultTrafficOptions, makeSyntheticTraffic } from "../../dev/SyntheticTraffic"
import { Metrics } from "../../observability/Metrics"
import { kafkaSourceLayer } from "../layers"
import { ensureCatalogue } from "./ensureCatalogue"
import { runEmbeddedIngest } from "./ingest"
import { scheduledCheckpoints } from "./checkpoints"
import { scheduledJobs } from "./jobs"
import { progressLine } from "./progress"

const feedSynthetic = (config: AppConfig) =>
  Effect.gen(function* () {
    const log = yield* InProcessLog
    const traffic = makeSyntheticTraffic({ ...defaultTrafficOptions, seed: Date.now() % 100_000 })
    const topic = topicNames(config.topicPrefix).turnEvents
    const tickMs = 100
    const perTick = Math.max(1, Math.round((config.syntheticRate * tickMs) / 1000))
    yield* Effect.sync(() => {
      // Keep the log from running far ahead of consumption: feed only while the backlog is small.
      let backlog = 0
      for (let p = 0; p < log.partitions; p++) {
        backlog += log.endOffset(topic, p) - log.committed(config.consumerGroup, topic, p)
      }
      if (backlog > config.syntheticRate * 2) return
      for (let i = 0; i < perTick; i++) log.append({ topic, ...traffic.next() })
    }).pipe(Effect.repeat(Schedule.spaced(Duration.millis(tickMs))))
  })

const loadSyntheticDefinitions = Effect.gen(function* () {
  const traffic = makeSyntheticTraffic(defaultTrafficOptions)
  const defs = Schema.decodeUnknownSync(Schema.Array(FieldDefinition))(
    syntheticDefinitions(traffic.tenants, traffic.agents)
  )
  yield* (yield* ProfileStore).upsertDefinitions(defs)
})

/** Progress line and actor passivation, common to both modes. */
const housekeeping = Effect.gen(function* () {
  const metrics = yield* Metrics
  const registry = yield* ActorRegistry
  const progress = Effect.flatMap(progressLine(metrics), Console.log).pipe(
    Effect.repeat(Schedule.spaced("5 seconds")),
    Effect.delay("5 seconds")
  )
  const reaper = Effect.clockWith((clock) => clock.currentTimeMillis).pipe(
    Effect.flatMap((now) => registry.reap(now)),
    Effect.tap(() => Effect.sync(() => metrics.activeActors.set(registry.size()))),
    Effect.repeat(Schedule.spaced("10 seconds"))
  )
  yield* Effect.all([progress, reaper], { concurrency: "unbounded", discard: true })
})

/** Logged once the sources stopped and in-flight batches finished (before buffers flush and stores close). */
const stopped = Effect.gen(function* () {
  const metrics = yield* Metrics
  const committed = (yield* Effect.promise(() => metrics.committedOffsets.get())).values[0]?.value ?? 0
  yield* Effect.logInfo("turnvault stopped: consumption ended, in-flight batches finished", { committed })
})

export const startEmbedded = (config: AppConfig, progress: ConsumerProgress) =>
  Effect.gen(function* () {
    yield* loadSyntheticDefinitions
    yield* Effect.logInfo("turnvault started on embedded defaults, feeding itself synthetic traffic", {
      http: config.httpPort,
      partitions: config.partitions,
      syntheticRate: config.syntheticRate
    })
    const source = EmbeddedSourceLive({
      topic: topicNames(config.topicPrefix).turnEvents,
      group: config.consumerGroup,
      batchSize: config.batchSize,
      idlePoll: "20 millis",
      progress
    })
    const stream = yield* TurnStream
    const checkpoints = yield* scheduledCheckpoints(config)
    yield* Effect.all(
      [
        stream.run({ repartition: false, fence: false }).pipe(Effect.provide(source)),
        feedSynthetic(config),
        ...(config.ingestEmbedded && config.memoryIngestion ? [runEmbeddedIngest(config)] : []),
        housekeeping,
        scheduledJobs(config, checkpoints)
      ],
      {
        concurrency: "unbounded",
        discard: true
      }
    )
  }).pipe(Effect.onInterrupt(() => stopped))

export const startKafka = (config: AppConfig, brokers: ReadonlyArray<string>, progress: ConsumerProgress) =>
  Effect.gen(function* () {
    const topics = topicNames(config.topicPrefix)
    yield* ensureCatalogue(config)
    yield* Effect.logInfo("turnvault consuming from Kafka", {
      topic: topics.turnEvents,
      group: config.consumerGroup,
      kafka_consumer: config.kafkaConsumer,
      kafka_producer: config.kafkaProducer
    })
    const source = kafkaSourceLayer(config, brokers, progress)
    const stream = yield* TurnStream
    const checkpoints = yield* scheduledCheckpoints(config)
    yield* Effect.all(
      [
        stream.run({ repartition: true, fence: true }).pipe(Effect.provide(source)),
        housekeeping,
        scheduledJobs(config, checkpoints)
      ],
      {
        concurrency: "unbounded",
        discard: true
      }
    )
  }).pipe(Effect.onInterrupt(() => stopped))
