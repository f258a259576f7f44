/**
 * Sessions in memory: the ActorRegistry over in-memory stores activates `sessions` session actors
 * (the workload's tenants and customers; customer snapshots are shared by a customer's sessions),
 * then one turn is applied to each so every actor holds a real session state. RSS and heap after a
 * forced GC (run with --expose-gc), before and after.
 */
import { Effect, Layer } from "effect"
import { ActorRegistry } from "../../src/sessions/ActorRegistry"
import { Either } from "effect"
import { decodeTurnEvent } from "../../streams/decode"
import { MemoryStoresLive } from "../../src/adapters/embedded"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { load, round, scenarioArgs, wallMs, writeResult } from "../lib/measure"
import { settings } from "../lib/pureRun"
import { workloadDefinitions, workloadOptions } from "../lib/workload"
import { tenantIds, AGENTS } from "../../src/dev/SyntheticTraffic"
import type { TurnCompleted } from "../../schemas"

const args = scenarioArgs({ sessions: 100_000 })
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with --expose-gc")
const memory = () => {
  gc()
  gc()
  const m = process.memoryUsage()
  return { rssMb: round(m.rss / 1048576, 1), heapUsedMb: round(m.heapUsed / 1048576, 1) }
}

const tenants = tenantIds(workloadOptions.tenants)
const refOf = (i: number) => ({
  tenant_id: tenants[i % tenants.length]!,
  session_id: `mem-sess-${i}`,
  customer_id: `cust-${Math.floor(i / tenants.length) % workloadOptions.customersPerTenant}`,
  agent_id: AGENTS[i % AGENTS.length]!
})
const turn = (i: number): TurnCompleted => {
  const ref = refOf(i)
  const raw = JSON.stringify({
    schema_version: 1,
    event_type: "turn.completed",
    event_id: `evt-${i}`,
    ...ref,
    occurred_at: new Date(1_767_225_600_000 + i).toISOString(),
    case_id: `case-${i}`,
    turn_id: `${ref.session_id}-t1`,
    turn_number: 1,
    user_message: "Hello, I would like to update my details.",
    agent_response: "Of course, I have noted that for you.",
    candidate_variables: {
      mood: { value: "happy" },
      plan: { value: "pro", confidence: 0.9, source: "USER" }
    },
    matched_rules: [{ rule_id: "r-update", score: 0.9 }],
    scenario: null,
    tool_executions: [],
    enforcement: null
  })
  const decoded = decodeTurnEvent(raw)
  if (Either.isLeft(decoded)) throw new Error(decoded.left.detail)
  return decoded.right as TurnCompleted
}

const program = Effect.gen(function* () {
  yield* (yield* ProfileStore).upsertDefinitions(workloadDefinitions())
  const registry = yield* ActorRegistry
  const before = memory()
  const t0 = wallMs()
  const chunk = 5_000
  for (let start = 0; start < args.sessions; start += chunk) {
    const refs = Array.from({ length: Math.min(chunk, args.sessions - start) }, (_, k) => refOf(start + k))
    yield* registry.activate(refs, 0)
    for (const [k, ref] of refs.entries()) {
      const actor = yield* registry.get(ref, 0)
      actor.handleTurn(turn(start + k), settings)
    }
  }
  const activateMs = wallMs() - t0
  const after = memory()
  return {
    sessions: registry.size(),
    customers: registry.customerCount(),
    before,
    after,
    rssPerSessionBytes: round(((after.rssMb - before.rssMb) * 1048576) / args.sessions, 0),
    heapPerSessionBytes: round(((after.heapUsedMb - before.heapUsedMb) * 1048576) / args.sessions, 0),
    activateAndApplyMs: round(activateMs, 0),
    note: "memory stores hold their own copy of nothing here: sessions are not saved, only activated and applied"
  }
})

const result = await Effect.runPromise(
  program.pipe(
    Effect.provide(
      ActorRegistry.layer({
        idleTimeoutMs: 300_000,
        maxActors: 200_000,
        definitionsTtlMs: 3_600_000,
        maxHistory: 10
      }).pipe(Layer.provideMerge(MemoryStoresLive))
    )
  )
)
writeResult({ ...result, load: load() })
process.exit(0)
