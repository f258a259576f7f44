/** Outputs: one memory task and one turn record per applied turn; a redelivered turn re-publishes them. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { TurnEvent } from "../../schemas"
import { topicNames } from "../../streams/topics"
import { ActorRegistry } from "../../src/sessions/ActorRegistry"
import { InProcessLog } from "../../src/adapters/embedded/InProcessLog"
import { Metrics } from "../../src/observability/Metrics"
import { turn } from "../support/events"
import { embeddedPipeline, processEvents, streamEvents } from "../support/pipeline"

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
