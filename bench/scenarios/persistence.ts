/**
 * Persistence composition: a turn's three writes (session state, customer-data changes, turn record
 * + ledger entry) through the project's Persistence service, sequential vs concurrent, on real
 * PostgreSQL. Two store set-ups:
 *   - shared: PgStoresLive as turnvault runs it, the three writes inside one UnitOfWork
 *     transaction on one connection, pipelined (concurrent statements go out at once; the server
 *     runs them one after another) or not (each statement waits for the previous one's answer);
 *   - independent: the same PostgreSQL stores without the shared UnitOfWork (passThrough), so each
 *     write runs on its own pool connection and its own transaction.
 * Units of one turn and units of a batch of turns. Every mode writes the same rows to its own fresh
 * database; modes are interleaved in rounds so machine noise hits them alike.
 */
import { Context, Duration, Effect, Layer } from "effect"
import type { EventEffects } from "../../src/sessions/SessionActor"
import { type BatchWrites, Persistence } from "../../src/batch/Persistence"
import {
  PgAuditStore,
  PgClient,
  PgPartitionOwnership,
  PgQuarantineStore,
  PgProfileStore,
  PgSessionStore,
  PgStoresLive
} from "../../src/adapters/postgres"
import { UnitOfWork } from "../../src/ports/UnitOfWork"
import { Metrics } from "../../src/observability/Metrics"
import { distribution, load, log, round, scenarioArgs, wallMs, writeResult } from "../lib/measure"
import { decodeAll, effectsOf } from "../lib/pureRun"
import { makeWorkload } from "../lib/workload"

const args = scenarioArgs({ databaseUrls: [] as Array<string>, turns: 400, batchTurns: 100, round: 20 })

const toWrites = (list: ReadonlyArray<EventEffects>): BatchWrites => {
  const sessions = new Map<string, NonNullable<EventEffects["session"]>>()
  const rows = list.flatMap((e) => e.profileWrites)
  for (const e of list)
    if (e.session !== null)
      sessions.set(`${e.session.state.tenant_id}/${e.session.state.session_id}`, e.session)
  return {
    sessions: [...sessions.values()],
    profile: rows.length === 0 ? [] : [{ kind: "write", rows }],
    assets: list.flatMap((e) => e.assets),
    records: list.flatMap((e) => (e.record === null ? [] : [e.record])),
    history: list.flatMap((e) => (e.history === null ? [] : [e.history])),
    parked: [],
    resolutions: []
  }
}

// Turns only (every unit carries all three operations); the first `turns` for single-turn units,
// the next ones grouped by `batchTurns` for batch units.
const turnEffects = effectsOf(decodeAll(makeWorkload(args.turns * 3).lines)).filter(
  (e): e is EventEffects => e !== null && e.record !== null
)
const single = turnEffects.slice(0, args.turns).map((e) => toWrites([e]))
const batched: Array<BatchWrites> = []
for (
  let i = args.turns;
  i + args.batchTurns <= turnEffects.length && batched.length < 8;
  i += args.batchTurns
)
  batched.push(toWrites(turnEffects.slice(i, i + args.batchTurns)))

const persistence = (sequential: boolean) =>
  Persistence.layer({
    sequential,
    retryBaseDelay: Duration.millis(50),
    retryMaxDelay: Duration.millis(2_000),
    maxAttempts: 5
  })
const shared = (url: string) => PgStoresLive({ connectionString: url, max: 10 })
const sharedUnpipelined = (url: string) => PgStoresLive({ connectionString: url, max: 10, pipeline: false })
const independent = (url: string) =>
  Layer.mergeAll(
    PgSessionStore.layer,
    PgProfileStore.layer,
    PgAuditStore.layer,
    PgPartitionOwnership.layer,
    PgQuarantineStore.layer,
    UnitOfWork.passThrough
  ).pipe(Layer.provide(PgClient.layer({ connectionString: url, max: 10 })))

const modes = [
  { name: "shared transaction, sequential", stores: shared, sequential: true },
  { name: "shared transaction, concurrent, pipelined", stores: shared, sequential: false },
  { name: "shared transaction, concurrent, not pipelined", stores: sharedUnpipelined, sequential: false },
  { name: "independent stores, sequential", stores: independent, sequential: true },
  { name: "independent stores, concurrent", stores: independent, sequential: false }
] as const

const program = Effect.gen(function* () {
  const services = yield* Effect.forEach(modes, (mode, i) =>
    Effect.map(
      Layer.build(persistence(mode.sequential).pipe(Layer.provide(mode.stores(args.databaseUrls[i]!)))),
      (ctx) => Context.get(ctx, Persistence)
    )
  )
  const timed = (index: number, writes: BatchWrites) =>
    Effect.gen(function* () {
      const t = wallMs()
      yield* services[index]!.persist(writes)
      return wallMs() - t
    })
  const run = (units: ReadonlyArray<BatchWrites>, perRound: number) =>
    Effect.gen(function* () {
      const samples = modes.map(() => [] as Array<number>)
      for (let start = 0; start < units.length; start += perRound) {
        for (let m = 0; m < modes.length; m++) {
          for (const unit of units.slice(start, start + perRound)) samples[m]!.push(yield* timed(m, unit))
        }
      }
      return samples.map(distribution)
    })
  // Warm the pools and the statement paths: the first units of each mode are not measured.
  yield* run(single.slice(0, 10), 10)
  const perTurn = yield* run(single.slice(10), args.round)
  const perBatch = yield* run(batched, 1)
  return { perTurn, perBatch }
}).pipe(Effect.provide(Metrics.layerTest), Effect.scoped)

const { perTurn, perBatch } = await Effect.runPromise(program)
const gain = (seq: { mean: number }, conc: { mean: number }) => round(1 - conc.mean / seq.mean, 3)
const table = modes.map((mode, i) => ({ mode: mode.name, perTurnMs: perTurn[i]!, perBatchMs: perBatch[i]! }))
const result = {
  unitsPerTurnMode: perTurn[0]!.n,
  batchTurns: args.batchTurns,
  unitsPerBatchMode: perBatch[0]!.n,
  modes: table,
  concurrentGain: {
    sharedPerTurn: gain(perTurn[0]!, perTurn[1]!),
    sharedUnpipelinedPerTurn: gain(perTurn[0]!, perTurn[2]!),
    independentPerTurn: gain(perTurn[3]!, perTurn[4]!),
    sharedPerBatch: gain(perBatch[0]!, perBatch[1]!),
    sharedUnpipelinedPerBatch: gain(perBatch[0]!, perBatch[2]!),
    independentPerBatch: gain(perBatch[3]!, perBatch[4]!)
  },
  load: load()
}
log(`persistence: concurrent gain ${JSON.stringify(result.concurrentGain)}`)
writeResult(result)
process.exit(0)
