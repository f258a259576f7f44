/**
 * The ingest worker's core on memory stores, a scripted model and a recording sink, on TestClock:
 * the retry policy (Retry-After honoured, else doubling waits; a refusal is not retried; dead
 * letter after the last try), de-duplication by turn_id, gap fill (the step's missing fields are
 * asked for first), sessions in order, a tenant's concurrency bound, and a store outage pausing
 * the task instead of dropping it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Ref, TestClock } from "effect"
import type { MemoryIngestionTask } from "../../schemas"
import * as MemoryIngestionStore from "../../src/adapters/embedded/MemoryIngestionStore"
import * as MemoryProfileStore from "../../src/adapters/embedded/MemoryProfileStore"
import { type IngestConfig, makeIngestWorker } from "../../src/ingest/IngestWorker"
import { IngestMetrics } from "../../src/observability/IngestMetrics"
import { Metrics } from "../../src/observability/Metrics"
import { IngestionStore, IngestionStoreError } from "../../src/ports/IngestionStore"
import { LlmError } from "../../src/ports/LlmProvider"
import { AnswerInvalid, type ExtractionRequest, MemoryModel } from "../../src/ports/MemoryModel"
import { type OutputMessage, OutputSink } from "../../src/ports/OutputSink"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { fieldDef } from "../support/actors"

const CONFIG: IngestConfig = {
  turnEventsTopic: "turn-events",
  dlqTopic: "ingest-dlq",
  attempts: 3,
  retryBaseMs: 1000,
  tenantConcurrency: 1,
  summaries: true
}

const def = fieldDef

const task = (turnId: string, more: Partial<MemoryIngestionTask> = {}): MemoryIngestionTask => ({
  turn_id: turnId,
  tenant_id: "t1",
  agent_id: "a1",
  session_id: "s1",
  customer_id: "c1",
  turn_number: 1,
  occurred_at: "2024-05-01T10:00:00.000Z",
  user_message: `message of ${turnId}`,
  agent_response: "ok",
  ...more
})
const raw = (t: MemoryIngestionTask) => ({ key: t.session_id, value: JSON.stringify(t) })

type Step = "ok" | LlmError | AnswerInvalid

/** A model that answers each extraction with the next step of `script` (the last repeats). */
const scriptedModel = (script: Array<Step>, seen: Array<ExtractionRequest>, gate?: Effect.Effect<void>) =>
  Layer.succeed(MemoryModel, {
    extract: (request) =>
      Effect.gen(function* () {
        seen.push(request)
        if (gate !== undefined) yield* gate
        const step = script.length > 1 ? script.shift()! : script[0]!
        if (step !== "ok") return yield* step
        return {
          value: { fields: [{ name: "plan", value: "pro", confidence: 0.9 }] },
          model: "m",
          template: "entity-extraction@1",
          tokensIn: 10,
          tokensOut: 5
        }
      }),
    summarise: (request) =>
      Effect.succeed({
        value: `${request.previous ?? ""}|${request.userMessage}`,
        model: "m",
        template: "session-summary@1",
        tokensIn: 1,
        tokensOut: 1
      })
  })

const recordingSink = (published: Array<OutputMessage>) =>
  Layer.succeed(OutputSink, { publish: (messages) => Effect.sync(() => void published.push(...messages)) })

const setup = (model: Layer.Layer<MemoryModel>, published: Array<OutputMessage>, config = CONFIG) =>
  Effect.gen(function* () {
    yield* (yield* ProfileStore).upsertDefinitions([
      def("plan"),
      def("order_number", { scope: "CASE", collection_prompt: "What is your order number?" }),
      def("mood", { scope: "SESSION" })
    ])
    const worker = yield* makeIngestWorker(config)
    return Object.assign(worker, { store: yield* IngestionStore })
  }).pipe(
    Effect.provide(
      Layer.mergeAll(
        MemoryIngestionStore.layer,
        MemoryProfileStore.layer,
        model,
        recordingSink(published)
      ).pipe(Layer.provideMerge(IngestMetrics.layer), Layer.provideMerge(Metrics.layerTest))
    )
  )

describe("ingest worker", () => {
  it.effect("waits as Retry-After says, else 1 s then 2 s, and dead-letters after the last try", () =>
    Effect.gen(function* () {
      const published: Array<OutputMessage> = []
      const seen: Array<ExtractionRequest> = []
      const server = new LlmError({ kind: "server", message: "provider error 500", status: 500 })
      const limited = new LlmError({ kind: "rate_limited", message: "slow down", retryAfterMs: 5000 })
      const worker = yield* setup(scriptedModel([limited, server, "ok"], seen), published)
      const run = yield* Effect.fork(worker.handle([raw(task("turn-1"))]))
      yield* TestClock.adjust("4999 millis")
      expect(seen).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      expect(seen).toHaveLength(2)
      // the second failure gave no Retry-After: the base wait doubled for the second retry
      yield* TestClock.adjust("1999 millis")
      expect(seen).toHaveLength(2)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(run)
      expect(seen).toHaveLength(3)
      expect(published.map((m) => m.topic)).toEqual(["turn-events"])
      const event = JSON.parse(published[0]!.value as string)
      expect(event).toMatchObject({
        event_type: "extraction.completed",
        event_id: "extraction:turn-1",
        turn_id: "turn-1",
        occurred_at: "2024-05-01T10:00:00.000Z",
        template: "entity-extraction@1",
        candidate_variables: {
          plan: { value: "pro", needs_human_review: false, derived_from: ["turn:turn-1"] }
        }
      })

      const failing = yield* setup(scriptedModel([server], []), published)
      const fails = yield* Effect.fork(failing.handle([raw(task("turn-2"))]))
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.join(fails)
      const letter = JSON.parse(published.at(-1)!.value as string)
      expect(published.at(-1)!.topic).toBe("ingest-dlq")
      expect(letter).toMatchObject({ reason: "provider_failed", attempts: 3, task: { turn_id: "turn-2" } })
    })
  )

  it.effect("a refusal is not tried again; an answer that stays invalid is dead-lettered as such", () =>
    Effect.gen(function* () {
      const published: Array<OutputMessage> = []
      const refused = new LlmError({
        kind: "refused",
        message: "provider refused the request (401)",
        status: 401
      })
      const seen: Array<ExtractionRequest> = []
      const worker = yield* setup(scriptedModel([refused], seen), published)
      yield* worker.handle([raw(task("turn-1"))])
      expect(seen).toHaveLength(1)
      expect(JSON.parse(published[0]!.value as string)).toMatchObject({
        reason: "provider_failed",
        attempts: 1
      })

      const invalid = yield* setup(
        scriptedModel([new AnswerInvalid({ detail: "the answer is not JSON" })], []),
        published
      )
      const run = yield* Effect.fork(invalid.handle([raw(task("turn-2"))]))
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.join(run)
      expect(JSON.parse(published[1]!.value as string)).toMatchObject({
        reason: "invalid_answer",
        attempts: 3
      })
    })
  )

  it.effect("a task delivered again is a duplicate: no second request, no second event", () =>
    Effect.gen(function* () {
      const published: Array<OutputMessage> = []
      const seen: Array<ExtractionRequest> = []
      const worker = yield* setup(scriptedModel(["ok"], seen), published)
      yield* worker.handle([raw(task("turn-1")), raw(task("turn-1"))])
      yield* worker.handle([raw(task("turn-1"))])
      expect(seen).toHaveLength(1)
      expect(published).toHaveLength(1)
    })
  )

  it.effect("asks for the step's missing fields first, describes only profile fields, keeps the case", () =>
    Effect.gen(function* () {
      const published: Array<OutputMessage> = []
      const seen: Array<ExtractionRequest> = []
      const worker = yield* setup(scriptedModel(["ok"], seen), published)
      yield* worker.handle([
        raw(
          task("turn-1", {
            case_id: "case-9",
            missing_fields: [
              { field_name: "order_number", fallback_action: "ask" },
              { field_name: "gone", fallback_action: "ask" }
            ]
          })
        )
      ])
      expect(seen[0]!.missing).toEqual([
        { name: "order_number", collection_prompt: "What is your order number?" }
      ])
      expect(seen[0]!.fields.map((f) => f.name).sort()).toEqual(["order_number", "plan"])
      expect(JSON.parse(published[0]!.value as string).case_id).toBe("case-9")
    })
  )

  it.effect("rolls a session's summary forward in turn order, and a malformed task is dead-lettered", () =>
    Effect.gen(function* () {
      const published: Array<OutputMessage> = []
      const worker = yield* setup(scriptedModel(["ok"], []), published)
      yield* worker.handle([
        raw(task("turn-1")),
        { key: "s1", value: "{not json" },
        raw(task("turn-2", { turn_number: 2 }))
      ])
      const summary = yield* worker.store.summary("t1", "s1")
      expect(summary).toMatchObject({
        summary: "|message of turn-1|message of turn-2",
        covers_turn_ids: ["turn-1", "turn-2"],
        through_turn_number: 2,
        template: "session-summary@1"
      })
      expect(yield* worker.store.result("t1", "turn-2")).toMatchObject({
        model: "m",
        extracted: 1,
        needs_review: 0
      })
      const letter = published.find((m) => m.topic === "ingest-dlq")!
      expect(JSON.parse(letter.value as string)).toMatchObject({
        reason: "malformed_task",
        task: "{not json"
      })
    })
  )

  it.effect("runs one session of a tenant at a time at concurrency 1, other tenants alongside", () =>
    Effect.gen(function* () {
      const published: Array<OutputMessage> = []
      const seen: Array<ExtractionRequest> = []
      const gate = yield* Deferred.make<void>()
      const worker = yield* setup(scriptedModel(["ok"], seen, Deferred.await(gate)), published)
      const run = yield* Effect.fork(
        worker.handle([
          raw(task("a-1", { session_id: "s1" })),
          raw(task("a-2", { session_id: "s2" })),
          raw(task("b-1", { tenant_id: "t2", session_id: "s3" }))
        ])
      )
      yield* TestClock.adjust("10 millis")
      expect(seen.map((r) => r.userMessage).sort()).toEqual(["message of a-1", "message of b-1"])
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(run)
      expect(seen).toHaveLength(3)
    })
  )

  it.effect("a store outage pauses the task until the store is back; nothing is dropped", () =>
    Effect.gen(function* () {
      const published: Array<OutputMessage> = []
      const down = yield* Ref.make(true)
      const flaky = Layer.effect(
        IngestionStore,
        Effect.map(IngestionStore, (store) => ({
          ...store,
          completed: (tenantId: string, ids: ReadonlyArray<string>) =>
            Effect.flatMap(Ref.get(down), (isDown) =>
              isDown
                ? Effect.fail(new IngestionStoreError({ operation: "completed", cause: "down" }))
                : store.completed(tenantId, ids)
            )
        }))
      ).pipe(Layer.provide(MemoryIngestionStore.layer))
      const worker = yield* Effect.gen(function* () {
        yield* (yield* ProfileStore).upsertDefinitions([def("plan")])
        return yield* makeIngestWorker(CONFIG)
      }).pipe(
        Effect.provide(
          Layer.mergeAll(
            flaky,
            MemoryProfileStore.layer,
            scriptedModel(["ok"], []),
            recordingSink(published)
          ).pipe(Layer.provideMerge(IngestMetrics.layer), Layer.provideMerge(Metrics.layerTest))
        )
      )
      const run = yield* Effect.fork(worker.handle([raw(task("turn-1"))]))
      yield* TestClock.adjust("30 seconds")
      expect(published).toHaveLength(0)
      yield* Ref.set(down, false)
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(run)
      expect(published.map((m) => m.topic)).toEqual(["turn-events"])
    })
  )
})
