/** Outputs: one memory task and one turn record per applied turn; a redelivered turn re-publishes them. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { FieldDefinition, TurnEvent } from "../../schemas"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { topicNames } from "../../streams/topics"
import { ActorRegistry } from "../../src/sessions/ActorRegistry"
import { InProcessLog } from "../../src/adapters/embedded/InProcessLog"
import { Metrics } from "../../src/observability/Metrics"
import { def, turn } from "../support/events"
import { embeddedPipeline, processEvents, streamEvents } from "../support/pipeline"
import { publishedRecord } from "../../src/batch/outputs"

const decode = Schema.decodeUnknownSync(TurnEvent)
const topics = topicNames("turnvault.")
const turnIds = (log: InProcessLog["Type"], topic: string) =>
  log.all(topic).map((m) => JSON.parse(String(m.value)).turn_id)

describe("outputs", () => {
  it.effect("an applied turn publishes its record and memory task, keyed by session, with the turn id", () =>
    Effect.gen(function* () {
      const log = yield* InProcessLog
      yield* processEvents([decode(turn({ turn: 1 })), decode(turn({ turn: 2 }))])
      expect(turnIds(log, topics.turnRecords)).toEqual(["t1-s1-1", "t1-s1-2"])
      expect(turnIds(log, topics.memoryIngestion)).toEqual(["t1-s1-1", "t1-s1-2"])
      const [message] = log.all(topics.memoryIngestion)
      expect(message?.key).toBe("s1")
      expect(message?.headers).toEqual({ turn_id: "t1-s1-1" })
      expect(JSON.parse(String(message!.value))).toMatchObject({
        user_message: "hello",
        agent_response: "hi"
      })
    }).pipe(Effect.provide(embeddedPipeline()))
  )

  it.effect("the stream times each step of a batch: apply, persist and publish, once per batch", () =>
    Effect.gen(function* () {
      yield* streamEvents([decode(turn({ turn: 1 })), decode(turn({ turn: 2 }))])
      yield* streamEvents([decode(turn({ turn: 3 }))])
      const metrics = yield* Metrics
      const counts = (yield* Effect.promise(() => metrics.batchStepDuration.get())).values
        .filter((v) => v.metricName?.endsWith("_count"))
        .map((v) => `${v.labels.stage}/${v.labels.step}=${v.value}`)
        .sort()
      // `handle` is the stream without its source: the source's commit is timed by `run`
      expect(counts).toEqual(["stateful/apply=2", "stateful/persist=2", "stateful/publish=2"])
    }).pipe(Effect.provide(embeddedPipeline()))
  )

  it.effect("a turn that skips numbers is applied and counted as a gap", () =>
    Effect.gen(function* () {
      const results = yield* processEvents([decode(turn({ turn: 1 })), decode(turn({ turn: 4 }))])
      expect(results.map((r) => r.kind)).toEqual(["applied", "applied"])
      const metrics = yield* Metrics
      const gaps = yield* Effect.promise(() => metrics.turnGaps.get())
      expect(gaps.values[0]?.value).toBe(1)
    }).pipe(Effect.provide(embeddedPipeline()))
  )

  it.effect(
    "updates are counted by scope, status and is_update; validation errors by error and value type",
    () =>
      Effect.gen(function* () {
        const defs = [
          def("seats", "integer", "BUSINESS", { validation: { max: 10 } }),
          def("mood", "string", "SESSION")
        ]
        yield* (yield* ProfileStore).upsertDefinitions(
          defs.map((d) => Schema.decodeUnknownSync(FieldDefinition)(d))
        )
        yield* processEvents([
          decode(turn({ turn: 1, vars: { seats: 2, mood: "calm", zzz: 1 } })),
          decode(turn({ turn: 2, vars: { seats: 3, mood: "calm" } })),
          decode(turn({ turn: 3, vars: { seats: 99 } }))
        ])
        const metrics = yield* Metrics
        const counted = async (metric: {
          get: () => Promise<{ values: ReadonlyArray<{ labels: object; value: number }> }>
        }) =>
          (await metric.get()).values
            .filter((v) => v.value > 0)
            .map((v) => `${Object.values(v.labels).join("/")}=${v.value}`)
            .sort()
        expect(yield* Effect.promise(() => counted(metrics.customerDataUpdates))).toEqual([
          "BUSINESS/persisted/false=1",
          "BUSINESS/persisted/true=1",
          "BUSINESS/rejected/none=1",
          "NONE/unknown_field/none=1",
          "SESSION/session_only/false=1",
          "SESSION/unchanged/true=1"
        ])
        expect(yield* Effect.promise(() => counted(metrics.validationErrors))).toEqual(["max/integer=1"])
      }).pipe(Effect.provide(embeddedPipeline()))
  )

  it.effect("a turn redelivered after a restart (already applied) re-publishes the same outputs", () =>
    Effect.gen(function* () {
      const log = yield* InProcessLog
      const first = decode(turn({ turn: 1 }))
      yield* processEvents([first, decode(turn({ turn: 2 }))])
      const published = log.all(topics.turnRecords).map((m) => m.value)
      // a restart forgets every actor; the redelivered turn is recognised from the audit store
      yield* (yield* ActorRegistry).dropWhere(() => true)
      const [result] = yield* processEvents([first])
      expect(result?.kind).toBe("duplicate")
      const again = log.all(topics.turnRecords).map((m) => m.value)
      expect(again).toHaveLength(3)
      expect(again[2]).toBe(published[0])
      expect(turnIds(log, topics.memoryIngestion)).toEqual(["t1-s1-1", "t1-s1-2", "t1-s1-1"])
    }).pipe(Effect.provide(embeddedPipeline()))
  )
})

describe("memory ingestion off", () => {
  it.effect("publishes turn records but no memory task, for applied and redelivered turns", () =>
    Effect.gen(function* () {
      const log = yield* InProcessLog
      const first = decode(turn({ turn: 1 }))
      yield* processEvents([first, decode(turn({ turn: 2 }))])
      yield* (yield* ActorRegistry).dropWhere(() => true)
      const [result] = yield* processEvents([first])
      expect(result?.kind).toBe("duplicate")
      expect(turnIds(log, topics.turnRecords)).toEqual(["t1-s1-1", "t1-s1-2", "t1-s1-1"])
      expect(log.all(topics.memoryIngestion)).toEqual([])
    }).pipe(Effect.provide(embeddedPipeline({ TURNVAULT_MEMORY_INGESTION: "false" })))
  )
})

describe("published turn records", () => {
  const record = (updates: number) => ({
    tenant_id: "t1",
    agent_id: "a1",
    session_id: "s1",
    customer_id: "c1",
    turn_id: "turn-1",
    turn_number: 1,
    occurred_at: "2026-01-01T00:00:00.000Z",
    canonical_intent: null,
    outcome: { resolution: "RESOLVED" as const, categories: [] },
    customer_data_updates: Array.from({ length: updates }, (_, i) => ({
      field_name: `v${i}`,
      status: "unknown_field" as const
    })),
    matched_rule_ids: ["r1", "r2"],
    tool_failures: 0,
    policy_violations: [],
    prev_hash: null,
    hash: "h"
  })

  it("a record that fits is published whole", () => {
    const small = record(3)
    expect(publishedRecord(small, 1024 * 1024)).toBe(JSON.stringify(small))
  })

  it("one that outgrows the topic keeps its first entries within the limit and counts the rest", () => {
    // 65,000 tiny candidate variables fit in a 1 MiB event; their update entries do not fit in 1 MiB
    const big = record(65_000)
    const limit = 1024 * 1024
    expect(Buffer.byteLength(JSON.stringify(big))).toBeGreaterThan(limit)
    const text = publishedRecord(big, limit)
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(limit)
    const published = JSON.parse(text)
    const kept = published.customer_data_updates.length
    expect(kept).toBeGreaterThan(20_000)
    expect(published.customer_data_updates).toEqual(big.customer_data_updates.slice(0, kept))
    // what still fits of the shorter lists is kept
    expect(published.matched_rule_ids).toEqual(["r1", "r2"])
    expect(published.truncated).toEqual({
      customer_data_updates: 65_000 - kept,
      matched_rule_ids: 0,
      policy_violations: 0
    })
    // the hash is the whole record's: everything else is as stored
    expect({ ...published, customer_data_updates: [], matched_rule_ids: [], truncated: undefined }).toEqual({
      ...big,
      customer_data_updates: [],
      matched_rule_ids: [],
      truncated: undefined
    })
  })
  it("the phase-decision lists are cut too, after the v1 lists, and counted only when cut", () => {
    const tools = Array.from({ length: 30_000 }, (_, i) => ({
      tool_id: `tool-${i}`,
      success: false,
      error: "timeout"
    }))
    const big = {
      ...record(10),
      matched_rules: [{ rule_id: "r1", score: 0.9 }, { rule_id: "r2" }],
      tool_executions: tools
    }
    const limit = 512 * 1024
    const text = publishedRecord(big, limit)
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(limit)
    const published = JSON.parse(text)
    const kept = published.tool_executions.length
    expect(kept).toBeGreaterThan(1_000)
    expect(kept).toBeLessThan(tools.length)
    expect(published.tool_executions).toEqual(tools.slice(0, kept))
    expect(published.matched_rules).toEqual(big.matched_rules)
    expect(published.customer_data_updates).toEqual(big.customer_data_updates)
    expect(published.truncated).toEqual({
      customer_data_updates: 0,
      matched_rule_ids: 0,
      policy_violations: 0,
      tool_executions: tools.length - kept
    })
  })
})
