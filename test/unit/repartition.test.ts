/** The repartition stage re-keys input by customer; dead letters still name the original message. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { deadLetter } from "../../streams/deadLetter"
import { repartitioned } from "../../streams/repartition"
import { topicNames } from "../../streams/topics"
import { Metrics } from "../../src/observability/Metrics"
import { turn } from "../support/events"

const topics = topicNames("t.")
const input = (value: string, key: string | null = "s1") => ({
  topic: topics.turnEvents,
  partition: 3,
  offset: "41",
  key,
  value: Buffer.from(value)
})

describe("repartition", () => {
  it("keys an event by (tenant, customer) and keeps its bytes and origin", () => {
    const value = JSON.stringify(turn({ turn: 1, tenant: "t|1", customer: "c,2" }))
    expect(repartitioned(topics.byCustomer, input(value))).toEqual({
      topic: topics.byCustomer,
      key: '["t|1","c,2"]',
      value: Buffer.from(value),
      headers: {
        source_topic: topics.turnEvents,
        source_partition: "3",
        source_offset: "41",
        source_key: "s1"
      }
    })
  })

  it("puts every session of one customer under one key, and tenants apart", () => {
    const key = (o: Parameters<typeof turn>[0]) =>
      repartitioned(topics.byCustomer, input(JSON.stringify(turn(o)))).key
    expect(key({ turn: 1, session: "a", customer: "c1" })).toBe(
      key({ turn: 4, session: "b", customer: "c1" })
    )
    expect(key({ turn: 1, tenant: "x", customer: "c1" })).not.toBe(
      key({ turn: 1, tenant: "y", customer: "c1" })
    )
  })

  it("keeps the original key of what names no customer (the stateful stage dead-letters it)", () => {
    expect(repartitioned(topics.byCustomer, input("{not json", "s9")).key).toBe("s9")
    expect(repartitioned(topics.byCustomer, input('{"tenant_id":"t"}', null)).key).toBeNull()
  })

  it.effect("a dead letter of a repartitioned record is the input message: its key and position", () =>
    Effect.gen(function* () {
      const moved = repartitioned(topics.byCustomer, input("{not json"))
      const record = {
        topic: topics.byCustomer,
        partition: 0,
        offset: "7",
        key: moved.key,
        value: Buffer.from(moved.value),
        headers: moved.headers ?? {}
      }
      const message = yield* deadLetter(topics, yield* Metrics, record, {
        reason: "malformed_json",
        detail: "x"
      })
      expect(message).toMatchObject({
        topic: topics.dlq,
        key: "s1",
        value: Buffer.from("{not json"),
        headers: {
          reason: "malformed_json",
          source_topic: topics.turnEvents,
          source_partition: "3",
          source_offset: "41"
        }
      })
    }).pipe(Effect.provide(Metrics.layerTest))
  )
})
