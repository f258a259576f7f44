/**
 * The turn texts on the memory-ingestion topic, sealed (decision 0019): the sink seals the tasks
 * of that topic only, the worker's TaskTexts opens them, and an erased customer's no longer open.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Ref, TestClock } from "effect"
import type { MemoryIngestionTask } from "../../schemas"
import { memoryStoresWith } from "../../src/adapters/embedded"
import { secretKey } from "../../src/domain/envelope"
import { CustomerKeys } from "../../src/ports/CustomerKeys"
import { type OutputMessage, OutputSink } from "../../src/ports/OutputSink"
import { makeTaskTexts, sealedOutputSink } from "../../src/privacy/SealedTexts"

const TOPIC = "t.memory-ingestion"
const options = { cacheSize: 100, cacheTtlMs: 1_000 }
const task = (customer: string, turn: string): MemoryIngestionTask => ({
  turn_id: turn,
  tenant_id: "t1",
  agent_id: "a1",
  session_id: `${customer}-s`,
  customer_id: customer,
  turn_number: 1,
  occurred_at: "2026-12-07T10:00:00.000Z",
  user_message: `my email is ${customer}@example.com`,
  agent_response: `thanks ${customer}`,
  missing_fields: []
})

const capture = Effect.gen(function* () {
  const sent = yield* Ref.make<Array<OutputMessage>>([])
  const sink = OutputSink.of({ publish: (messages) => Ref.update(sent, (all) => [...all, ...messages]) })
  return { sent, sink }
})

const stores = memoryStoresWith(secretKey(Buffer.alloc(32, 5)))

describe("sealed turn texts", () => {
  it.effect("the sink seals memory-ingestion tasks only; TaskTexts opens them", () =>
    Effect.gen(function* () {
      const { sent, sink } = yield* capture
      const sealing = yield* sealedOutputSink(TOPIC, options).pipe(Effect.provideService(OutputSink, sink))
      const tasks = [task("c1", "turn-1"), task("c2", "turn-2")]
      yield* sealing.publish([
        ...tasks.map((t) => ({ topic: TOPIC, key: t.session_id, value: JSON.stringify(t) })),
        { topic: "t.turn-records", key: "c1-s", value: JSON.stringify({ note: "c1@example.com" }) }
      ])
      const published = yield* Ref.get(sent)
      const onTopic = published.filter((m) => m.topic === TOPIC).map((m) => JSON.parse(String(m.value)))
      expect(onTopic.map((t) => [t.user_message, t.agent_response, t.sealed_texts.$sealed])).toEqual([
        ["", "", "v1"],
        ["", "", "v1"]
      ])
      expect(
        published
          .filter((m) => m.topic === TOPIC)
          .map((m) => String(m.value))
          .join()
      ).not.toContain("example.com")
      expect(String(published.find((m) => m.topic !== TOPIC)!.value)).toContain("c1@example.com")
      const texts = yield* makeTaskTexts(options)
      expect(yield* texts.open(onTopic)).toEqual(
        tasks.map((t, i) => ({ ...t, sealed_texts: onTopic[i].sealed_texts }))
      )
    }).pipe(Effect.provide(stores))
  )

  it.effect("once the customer is erased (and the cached key stale), its tasks open to null", () =>
    Effect.gen(function* () {
      const { sent, sink } = yield* capture
      const sealing = yield* sealedOutputSink(TOPIC, options).pipe(Effect.provideService(OutputSink, sink))
      yield* sealing.publish(
        [task("c1", "turn-1"), task("c2", "turn-2")].map((t) => ({
          topic: TOPIC,
          key: null,
          value: JSON.stringify(t)
        }))
      )
      const onTopic = (yield* Ref.get(sent)).map((m) => JSON.parse(String(m.value)) as MemoryIngestionTask)
      const texts = yield* makeTaskTexts(options)
      expect((yield* texts.open(onTopic)).map((t) => t?.user_message)).toEqual([
        "my email is c1@example.com",
        "my email is c2@example.com"
      ])
      yield* Effect.flatMap(CustomerKeys, (keys) =>
        keys.erase({
          tenant_id: "t1",
          customer_id: "c1",
          erased_at: "2026-12-07T11:00:00Z",
          erased_by: "dpo",
          reason: "r"
        })
      )
      yield* TestClock.adjust("2 seconds")
      expect((yield* texts.open(onTopic)).map((t) => t?.user_message ?? null)).toEqual([
        null,
        "my email is c2@example.com"
      ])
    }).pipe(Effect.provide(stores))
  )
})
