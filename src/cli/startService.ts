/**
 * `turnvault start`: the service. On embedded defaults it feeds itself synthetic traffic and
 * prints a one-line progress summary every few seconds; the HTTP surface serves metrics and
 * health. Interrupting it (SIGINT/SIGTERM) stops consuming first, lets in-flight batches finish,
 * then flushes buffers and closes stores (layer finalizers, in reverse order of acquisition).
 */
import { Console, Duration, Effect, Schedule } from "effect"
import { runEmbeddedSource } from "../../streams/EmbeddedSource"
import { topicNames } from "../../streams/topics"
import { ActorRegistry } from "../actors/ActorRegistry"
import type { AppConfig } from "../config/AppConfig"
import { InProcessLog } from "../log/InProcessLog"
import { ProfileStore } from "../stores/ProfileStore"
import { syntheticDefinitions } from "../synthetic/definitions"
import { defaultTrafficOptions, makeSyntheticTraffic } from "../synthetic/SyntheticTraffic"
import { FieldDefinition } from "../../schemas"
import { Schema } from "effect"
import { Metrics } from "../telemetry/Metrics"
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
      for (let p = 0; p < log.partitions; p++)
        backlog += log.endOffset(topic, p) - log.committed(config.consumerGroup, topic, p)
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

export const startService = (config: AppConfig) =>
  Effect.gen(function* () {
    const metrics = yield* Metrics
    const registry = yield* ActorRegistry
    yield* loadSyntheticDefinitions
    const topics = topicNames(config.topicPrefix)
    yield* Effect.logInfo("turnvault started on embedded defaults", {
      http: config.httpPort,
      partitions: config.partitions,
      syntheticRate: config.syntheticRate
    })
    const progress = Effect.gen(function* () {
      yield* Console.log(yield* progressLine(metrics))
    }).pipe(Effect.repeat(Schedule.spaced("5 seconds")), Effect.delay("5 seconds"))
    const reaper = Effect.clockWith((clock) => clock.currentTimeMillis).pipe(
      Effect.flatMap((now) => registry.reap(now)),
      Effect.repeat(Schedule.spaced("10 seconds"))
    )
    yield* Effect.all(
      [
        runEmbeddedSource({
          topics,
          group: config.consumerGroup,
          batchSize: config.batchSize,
          idlePoll: "20 millis"
        }),
        feedSynthetic(config),
        progress,
        reaper
      ],
      { concurrency: "unbounded", discard: true }
    )
  })
