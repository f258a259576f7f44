/**
 * End to end: turnvault in-process, assembled like src/app/main.ts (`serviceLayer` over Kafka, the
 * configured PostgreSQL and Redis) and consuming with `KafkaSourceLive` through `TurnStream.run`, until every turn is durable.
 * "Durable" is observed without touching src: the output sink is wrapped, and TurnBatch.publish hands
 * a batch's turn records to it only after Persistence has committed the batch.
 *
 *   mode "drain": the topic already holds the workload (a backlog); measures sustained throughput.
 *   mode "live":  a paced producer (another process) sends at a fixed rate once the group has
 *                 joined; measures produce -> durable latency per turn.
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { Effect, Layer, Logger, LogLevel } from "effect"
import { kafkaClientLayer, kafkaSourceLayer, serviceLayer } from "../../src/app/layers"
import { AppConfig, partitionsConcurrently } from "../../src/config/AppConfig"
import { makeConsumerProgress } from "../../src/observability/ConsumerProgress"
import { PlatformaticSinkLive } from "../../src/adapters/kafka/PlatformaticSink"
import { KafkaSinkLive } from "../../src/adapters/kafka/KafkaSink"
import { TurnStream } from "../../streams/TurnStream"
import { OutputSink } from "../../src/ports/OutputSink"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { Metrics } from "../../src/observability/Metrics"
import { topicNames } from "../../streams/topics"
import {
  busyShare,
  cpuSince,
  distribution,
  load,
  log,
  machineCpu,
  peakRssMb,
  round,
  scenarioArgs,
  wallMs,
  writeResult
} from "../lib/measure"
import { makeWorkload, workloadDefinitions } from "../lib/workload"

const args = scenarioArgs({
  mode: "drain" as "drain" | "live",
  brokers: [] as Array<string>,
  prefix: "",
  group: "",
  databaseUrl: "",
  redisUrl: "",
  events: 0,
  /** live mode: events per second the producer sends. */
  eventsPerSec: 0,
  timeoutMs: 300_000,
  producerOut: ""
})

// The knobs turnvault reads (AppConfig); anything else TURNVAULT_* set by the caller passes through.
process.env.DATABASE_URL = args.databaseUrl
if (args.redisUrl !== "") process.env.REDIS_URL = args.redisUrl
else delete process.env.REDIS_URL
process.env.TURNVAULT_TOPIC_PREFIX = args.prefix
process.env.TURNVAULT_CONSUMER_GROUP = args.group
process.env.TURNVAULT_CACHE_KEY_PREFIX = args.prefix
process.env.TURNVAULT_MIGRATE_ON_START = "false"

const config = await Effect.runPromise(AppConfig)
const workload = makeWorkload(args.events)
const expected = workload.stats.turns
const topics = topicNames(args.prefix)
const durableAt = new Map<string, number>()
const publishedAt = new Map<string, number>()

/** The real Kafka sink, wrapped: the time a turn record is handed over is the time it became durable. */
const observedSink = Layer.effect(
  OutputSink,
  Effect.map(OutputSink, (inner) => ({
    publish: (messages: Parameters<typeof inner.publish>[0]) =>
      Effect.suspend(() => {
        const t = wallMs()
        const ids: Array<string> = []
        for (const m of messages) {
          const id = m.topic === topics.turnRecords ? m.headers?.turn_id : undefined
          if (id !== undefined && !durableAt.has(id)) {
            durableAt.set(id, t)
            ids.push(id)
          }
        }
        return Effect.tap(inner.publish(messages), () =>
          Effect.sync(() => {
            const done = wallMs()
            for (const id of ids) publishedAt.set(id, done)
          })
        )
      })
  }))
).pipe(
  // TURNVAULT_KAFKA_PRODUCER picks the output producer's client, as in `turnvault start`
  Layer.provide(
    config.kafkaProducer === "kafkajs"
      ? KafkaSinkLive
      : PlatformaticSinkLive({ brokers: args.brokers, clientId: "turnvault" })
  )
)

const logLayer = Layer.provideMerge(observedSink, kafkaClientLayer(args.brokers))

const waitFor = (condition: () => boolean, timeoutMs: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      if (Date.now() > deadline) return false
      yield* Effect.sleep("10 millis")
    }
    return true
  })

const runProducer = () =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/scenarios/producer.ts"], {
      stdio: ["ignore", "inherit", "inherit"],
      env: {
        ...process.env,
        BENCH_OUT: args.producerOut,
        BENCH_ARGS: JSON.stringify({
          brokers: args.brokers,
          topic: topics.turnEvents,
          events: args.events,
          eventsPerSec: args.eventsPerSec
        })
      }
    })
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`producer exited ${code}`))))
  })

/** Where a batch's wall time went, from turnvault's own Prometheus histograms (sum and count). */
const timeSpent = (metrics: Metrics["Type"]) =>
  Effect.promise(async () => {
    const histograms = {
      turnDuration: metrics.turnDuration,
      persistenceDuration: metrics.persistenceDuration,
      persistenceUnitDuration: metrics.persistenceUnitDuration,
      batchStepDuration: metrics.batchStepDuration
    } as const
    const out: Record<string, { count: number; sumSeconds: number; meanMs: number }> = {}
    for (const [name, histogram] of Object.entries(histograms)) {
      const values = (
        await (
          histogram as {
            get: () => Promise<{
              values: Array<{ metricName?: string; labels: Record<string, unknown>; value: number }>
            }>
          }
        ).get()
      ).values
      for (const v of values) {
        const suffix = v.metricName?.endsWith("_sum")
          ? "sum"
          : v.metricName?.endsWith("_count")
            ? "count"
            : undefined
        if (suffix === undefined) continue
        const key = `${name}${Object.values(v.labels).length > 0 ? `{${Object.values(v.labels).join(",")}}` : ""}`
        const entry = out[key] ?? { count: 0, sumSeconds: 0, meanMs: 0 }
        if (suffix === "sum") entry.sumSeconds = round(v.value)
        else entry.count = v.value
        entry.meanMs = round((entry.sumSeconds * 1000) / Math.max(1, entry.count), 2)
        out[key] = entry
      }
    }
    return out
  })

const measure = Effect.gen(function* () {
  const config = yield* AppConfig
  const profiles = yield* ProfileStore
  yield* profiles.upsertDefinitions(workloadDefinitions())
  let joinedAt = 0
  const progress = makeConsumerProgress()
  const assigned = progress.assigned
  progress.assigned = (partitions) => {
    if (partitions.size > 0 && joinedAt === 0) joinedAt = wallMs()
    assigned(partitions)
  }
  const cpu0 = process.cpuUsage()
  const machine0 = machineCpu()
  const started = wallMs()
  const source = kafkaSourceLayer(config, args.brokers, progress, args.group)
  yield* Effect.fork(
    Effect.flatMap(TurnStream, (stream) => stream.run({ repartition: true, fence: true })).pipe(
      Effect.provide(source)
    )
  )
  yield* waitFor(() => joinedAt > 0, 60_000)
  log(`group joined after ${Math.round(joinedAt - started)} ms`)
  const producer = args.mode === "live" ? runProducer() : Promise.resolve()
  const complete = yield* waitFor(() => durableAt.size >= expected, args.timeoutMs)
  yield* Effect.promise(() => producer)
  const finished = wallMs()
  const cpu = cpuSince(cpu0)
  const machineBusy = busyShare(machine0, machineCpu())
  yield* Effect.sync(() => log(`${durableAt.size}/${expected} turns durable`))
  const times = [...durableAt.values()]
  const first = Math.min(...times)
  const last = Math.max(...times)
  const spent = yield* timeSpent(yield* Metrics)
  const base = {
    mode: args.mode,
    timeSpent: spent,
    complete,
    turnsExpected: expected,
    turnsDurable: durableAt.size,
    events: args.events,
    knobs: {
      batchSize: config.batchSize,
      partitionsConcurrently: partitionsConcurrently(config),
      pgPoolSize: config.pgPoolSize,
      redis: args.redisUrl !== "",
      sequentialPersistence: config.sequentialPersistence
    },
    joinMs: round(joinedAt - started, 1),
    cpuSeconds: cpu,
    cpuPerTurnUs: round((cpu.total * 1e6) / Math.max(1, durableAt.size), 1),
    cpuUtilisation: round(cpu.total / ((finished - joinedAt) / 1000)),
    machineBusy,
    peakRssMb: peakRssMb(),
    load: load()
  }
  if (args.mode === "drain") {
    const fromJoin = (last - joinedAt) / 1000
    return {
      ...base,
      seconds: round(fromJoin),
      turnsPerSec: round(durableAt.size / fromJoin, 0),
      eventsPerSec: round(args.events / fromJoin, 0),
      steadyTurnsPerSec: round(durableAt.size / ((last - first) / 1000), 0)
    }
  }
  const sent = JSON.parse(readFileSync(args.producerOut, "utf8")) as {
    sentAt: Array<number>
    achievedEventsPerSec: number
  }
  const sentAt = new Map<string, number>()
  workload.lines.forEach((line, i) => {
    const event = JSON.parse(line.value) as { turn_id?: string }
    if (event.turn_id !== undefined) sentAt.set(event.turn_id, sent.sentAt[i]!)
  })
  const warmupEnd = Math.min(...sentAt.values()) + 3_000
  const latencies: Array<number> = []
  const afterWarmup: Array<number> = []
  const toPublished: Array<number> = []
  // A turn still not durable when the run timed out counts with (end of run - sent): a lower bound,
  // so the percentiles of an incomplete run are lower bounds too (never survivors only).
  for (const [id, s] of sentAt) {
    const t = durableAt.get(id) ?? finished
    latencies.push(t - s)
    if (s >= warmupEnd) afterWarmup.push(t - s)
    const p = publishedAt.get(id)
    if (p !== undefined) toPublished.push(p - s)
  }
  const span = (Math.max(...sentAt.values()) - Math.min(...sentAt.values())) / 1000
  return {
    ...base,
    seconds: round((finished - joinedAt) / 1000, 1),
    offeredTurnsPerSec: round((args.eventsPerSec * expected) / args.events, 0),
    achievedTurnsPerSec: round(expected / span, 0),
    producerEventsPerSec: round(sent.achievedEventsPerSec, 0),
    latencyMs: distribution(latencies),
    latencyAfterWarmupMs: distribution(afterWarmup),
    latencyToPublishedMs: distribution(toPublished),
    latencyIsLowerBound: !complete,
    outputProducer: config.kafkaProducer,
    inputConsumer: config.kafkaConsumer
  }
})

// The result is written as soon as it is known and the process exits inside the scope, without a
// graceful shutdown: after a timed-out live run the consumer still holds a backlog, and stopping
// it cleanly could take longer than the measurement itself.
const program = Effect.gen(function* () {
  const result = yield* measure
  writeResult(result)
  process.exit(0)
}).pipe(
  Effect.provide(serviceLayer(config, logLayer)),
  Effect.provide(Metrics.layer({ processMetrics: false })),
  Logger.withMinimumLogLevel(LogLevel.Warning),
  Effect.scoped
)

await Effect.runPromise(program)
