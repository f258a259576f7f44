/**
 * Per-turn CPU cost of decoding, validation and the customer-data update, on the workload's events:
 *   1. pure: decodeTurnEvent + SessionActor.handleTurn (customer-data update, outcome, turn record,
 *      next session state with its hash), per turn, after a warm-up pass over the same events;
 *      with its parts timed on their own: updateCustomerData, and the two SHA-256-of-canonical-JSON
 *      hashes (session state, turn record) split into canonicalJson and sha256;
 *   2. pipeline: the whole stream wiring (streams/TurnStream.ts handle: decode, actors,
 *      TurnBatch, Persistence, outputs, telemetry) over in-memory stores and a no-op sink, in
 *      batches of TURNVAULT_BATCH_SIZE: turnvault's CPU per turn without any I/O.
 */
import { Effect, Either, Layer, Logger, LogLevel } from "effect"
import { memoryTaskFor } from "../../src/sessions/SessionActor"
import { pipelineLayer } from "../../src/app/layers"
import { AppConfig } from "../../src/config/AppConfig"
import { updateCustomerData } from "../../src/domain/customerData"
import { canonicalJson, sha256Hex } from "../../src/domain/hash"
import { normaliseInstant } from "../../src/sessions/SessionActor"
import { decodeTurnEvent } from "../../streams/decode"
import { OutputSink } from "../../src/ports/OutputSink"
import { MemoryStoresLive } from "../../src/adapters/embedded"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { Metrics } from "../../src/observability/Metrics"
import { TurnStream } from "../../streams/TurnStream"
import { topicNames } from "../../streams/topics"
import { cpuSince, distribution, load, round, scenarioArgs, wallMs, writeResult } from "../lib/measure"
import { makeActors, settings } from "../lib/pureRun"
import { makeWorkload, workloadDefinitions } from "../lib/workload"

const args = scenarioArgs({ events: 20_000 })
const workload = makeWorkload(args.events)
const us = (ms: number) => ms * 1000

const purePass = (measure: boolean) => {
  const actors = makeActors()
  const total: Array<number> = []
  const decode: Array<number> = []
  const apply: Array<number> = []
  const customerData: Array<number> = []
  const canonical: Array<number> = []
  const sha: Array<number> = []
  const memoryTask: Array<number> = []
  for (const line of workload.lines) {
    const t0 = performance.now()
    const decoded = decodeTurnEvent(line.value)
    const t1 = performance.now()
    if (Either.isLeft(decoded)) throw new Error(decoded.left.detail)
    const event = decoded.right
    if (event.event_type !== "turn.completed") {
      actors.apply(event)
      continue
    }
    const actor = actors.actorFor(event)
    const defs = actor.definitions
    const state = actor.record?.state
    // Same inputs as handleTurn's own call; pure, so running it first changes nothing.
    const c0 = performance.now()
    updateCustomerData(
      { ...event, occurred_at: normaliseInstant(event.occurred_at) },
      event.candidate_variables,
      defs,
      actor.customer.profile,
      state?.variables ?? {},
      actor.customer.expired,
      settings
    )
    const c1 = performance.now()
    const t2 = performance.now()
    const decision = actor.handleTurn(event, settings, false)
    const t3 = performance.now()
    if (decision.kind !== "applied" || !measure) continue
    const { session, record } = decision.effects
    const h0 = performance.now()
    const a = canonicalJson(session!.state)
    const { hash: _h, ...body } = record!
    const b = canonicalJson(body)
    const h1 = performance.now()
    sha256Hex(a)
    sha256Hex(b)
    const h2 = performance.now()
    memoryTaskFor(event, record!.missing_fields)
    const m1 = performance.now()
    total.push(us(t1 - t0 + (t3 - t2)))
    decode.push(us(t1 - t0))
    apply.push(us(t3 - t2))
    customerData.push(us(c1 - c0))
    canonical.push(us(h1 - h0))
    sha.push(us(h2 - h1))
    memoryTask.push(us(m1 - h2))
  }
  return { total, decode, apply, customerData, canonical, sha, memoryTask }
}

purePass(false)
const pure = purePass(true)
const meanOf = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)

// The whole in-memory pipeline, decode to outputs, through Effect.
const noSink = Layer.succeed(OutputSink, { publish: () => Effect.void })
const pipeline = Effect.gen(function* () {
  const config = yield* AppConfig
  const topics = topicNames(config.topicPrefix)
  yield* (yield* ProfileStore).upsertDefinitions(workloadDefinitions())
  const records = workload.lines.map((line, i) => ({
    topic: topics.turnEvents,
    partition: 0,
    offset: String(i),
    key: line.key,
    value: Buffer.from(line.value)
  }))
  const batchSize = config.batchSize
  const stream = yield* TurnStream
  const runAll = Effect.gen(function* () {
    for (let i = 0; i < records.length; i += batchSize)
      yield* stream.handle(records.slice(i, i + batchSize), 0)
  })
  const cpu0 = process.cpuUsage()
  const t0 = wallMs()
  yield* runAll
  const ms = wallMs() - t0
  const cpu = cpuSince(cpu0)
  return { batchSize, ms, cpu }
})
const config = await Effect.runPromise(AppConfig)
const pipelineRun = (layerFresh: boolean) =>
  Effect.runPromise(
    pipeline.pipe(
      Effect.provide(
        pipelineLayer(config).pipe(
          Layer.provideMerge(Layer.mergeAll(MemoryStoresLive, noSink)),
          Layer.provideMerge(Metrics.layerTest)
        )
      ),
      Logger.withMinimumLogLevel(LogLevel.Warning),
      Effect.scoped
    )
  ).then((r) => ({ ...r, layerFresh }))
await pipelineRun(true) // warm-up (JIT), fresh stores each run
const inMemory = await pipelineRun(true)
const turns = workload.stats.turns

writeResult({
  turns: pure.total.length,
  pureUs: {
    decodePlusApply: distribution(pure.total),
    decode: distribution(pure.decode),
    handleTurn: distribution(pure.apply),
    customerDataUpdate: distribution(pure.customerData),
    canonicalJsonOfStateAndRecord: distribution(pure.canonical),
    sha256OfStateAndRecord: distribution(pure.sha),
    memoryTask: distribution(pure.memoryTask)
  },
  shares: {
    decodeOfTotal: round(meanOf(pure.decode) / meanOf(pure.total)),
    customerDataOfTotal: round(meanOf(pure.customerData) / meanOf(pure.total)),
    hashingOfTotal: round((meanOf(pure.canonical) + meanOf(pure.sha)) / meanOf(pure.total)),
    canonicalJsonOfHashing: round(meanOf(pure.canonical) / (meanOf(pure.canonical) + meanOf(pure.sha)))
  },
  pipeline: {
    what: "streams/TurnStream.handle over memory stores and a no-op sink",
    batchSize: inMemory.batchSize,
    events: workload.stats.events,
    turnsPerSec: round((turns / inMemory.ms) * 1000, 0),
    cpuPerTurnUs: round((inMemory.cpu.total * 1e6) / turns, 1),
    wallPerTurnUs: round((inMemory.ms * 1000) / turns, 1)
  },
  load: load()
})
process.exit(0)
