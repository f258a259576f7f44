/**
 * The producer SDK's builders and its check before send (sdk/producer.ts), without a broker:
 * builders make events the consumer accepts, and the check rejects exactly what the consumer's
 * decoder dead-letters, with the same reason and detail. test/e2e/producer.test.ts sends through
 * a real broker.
 */
import { readdirSync, readFileSync } from "node:fs"
import path from "node:path"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import {
  caseClosed,
  checkTurnEvent,
  connectProducer,
  ProducerError,
  sessionEnded,
  TurnEventRejected,
  turnCompleted
} from "../../sdk/producer"
import { decodeRecordValue } from "../../streams/decode"

const examples = (kind: "valid" | "invalid") => {
  const dir = path.join(__dirname, "..", "..", "schemas", "examples", kind)
  return readdirSync(dir)
    .filter((name) => name.startsWith("turn-event."))
    .map((name) => ({ name, event: JSON.parse(readFileSync(path.join(dir, name), "utf8")) as unknown }))
}

const ids = { tenant_id: "acme", agent_id: "bot", session_id: "sess-1", customer_id: "cust-1" }

describe("producer builders", () => {
  it("fill schema_version, event_type, event_id, occurred_at and the empty lists", () => {
    const event = turnCompleted({
      ...ids,
      turn_id: "t-1",
      turn_number: 1,
      user_message: "hi",
      agent_response: "hello"
    })
    expect(event).toMatchObject({
      schema_version: 1,
      event_type: "turn.completed",
      candidate_variables: {},
      matched_rules: [],
      scenario: null,
      tool_executions: [],
      enforcement: null
    })
    expect(event.event_id).toMatch(/^[0-9a-f-]{36}$/)
    expect(Date.parse(event.occurred_at)).not.toBeNaN()
    expect(Either.isRight(checkTurnEvent(event))).toBe(true)
  })

  it("keep what the caller gives, and every builder makes an event the consumer accepts", () => {
    const given = { ...ids, event_id: "e-9", occurred_at: "2024-05-01T10:15:00Z" }
    const events = [
      turnCompleted({
        ...given,
        turn_id: "t-2",
        turn_number: 2,
        user_message: "my email is a@b.c",
        agent_response: "noted",
        candidate_variables: { email: { value: "a@b.c", confidence: 0.9, source: "USER" } }
      }),
      sessionEnded({ ...given, reason: "ABANDONED" }),
      caseClosed({ ...given, case_id: "case-1" })
    ]
    for (const event of events) {
      expect(event).toMatchObject(given)
      const checked = checkTurnEvent(event)
      expect(Either.getOrThrow(checked)).toMatchObject({ key: "sess-1", event: { event_id: "e-9" } })
    }
  })
})

describe("checkTurnEvent", () => {
  it("accepts every valid example and rejects every invalid one as the consumer's decoder does", () => {
    for (const { name, event } of examples("valid")) {
      expect(Either.isRight(checkTurnEvent(event)), name).toBe(true)
    }
    const invalid = examples("invalid")
    expect(invalid.length).toBeGreaterThan(10)
    for (const { name, event } of invalid) {
      const checked = checkTurnEvent(event)
      const decoded = decodeRecordValue(Buffer.from(JSON.stringify(event)), 1024 * 1024)
      expect(Either.isLeft(decoded), name).toBe(true)
      expect(Either.isLeft(checked), name).toBe(true)
      if (Either.isLeft(checked) && Either.isLeft(decoded)) {
        expect(checked.left).toBeInstanceOf(TurnEventRejected)
        expect({ reason: checked.left.reason, detail: checked.left.detail }, name).toEqual(decoded.left)
      }
    }
  })

  it("names the field that is wrong, never its value", () => {
    const event = {
      ...turnCompleted({ ...ids, turn_id: "t", turn_number: 1, user_message: "", agent_response: "" })
    }
    const checked = checkTurnEvent({ ...event, turn_number: "secret-42" })
    expect(Either.isLeft(checked)).toBe(true)
    if (Either.isLeft(checked)) {
      expect(checked.left.reason).toBe("schema_violation")
      expect(checked.left.detail).toContain("turn_number")
      expect(checked.left.detail).not.toContain("secret-42")
    }
  })

  it("rejects an event over the consumer's maximum, its key counted, and what is not JSON", () => {
    const event = turnCompleted({
      ...ids,
      turn_id: "t",
      turn_number: 1,
      user_message: "x".repeat(500),
      agent_response: ""
    })
    const size = Buffer.byteLength(JSON.stringify(event))
    expect(Either.isRight(checkTurnEvent(event, size + ids.session_id.length))).toBe(true)
    const large = checkTurnEvent(event, size + ids.session_id.length - 1)
    expect(Either.isLeft(large) && large.left.reason).toBe("too_large")

    const cyclic: Record<string, unknown> = { ...event }
    cyclic.self = cyclic
    const notJson = [
      checkTurnEvent(cyclic),
      checkTurnEvent({ ...event, turn_number: 1n }),
      checkTurnEvent(undefined)
    ]
    for (const checked of notJson)
      expect(Either.isLeft(checked) && checked.left.reason).toBe("malformed_json")
  })
})

describe("connectProducer", () => {
  it("rejects with ProducerError when no broker answers", async () => {
    // a port nothing listens on: kafkajs gives up after its retries (a few seconds)
    const failed = connectProducer({
      brokers: ["127.0.0.1:1"],
      connection: { connectionTimeout: 200 }
    }).then(
      () => "connected",
      (error: unknown) => error
    )
    const error = await failed
    expect(error).toBeInstanceOf(ProducerError)
    expect((error as Error).message).toContain("127.0.0.1:1")
  }, 60_000)
})
