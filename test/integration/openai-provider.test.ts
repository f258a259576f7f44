/**
 * The OpenAI-compatible LlmProvider over real HTTP against a local fake server of this test's own,
 * answering from recorded JSON: a good answer, a timeout, a 429 with Retry-After, a 500, a body
 * that is not JSON, and a model answer naming an unknown field and a wrong type (dropped one by
 * one by acceptAnswer, the rest kept).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Redacted } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import type { FieldDefinition } from "../../schemas"
import { make } from "../../src/adapters/llm/OpenAiCompatible"
import { acceptAnswer, parseAnswer } from "../../src/domain/extraction"

/** What the fake answers, by the request's user message. */
type Reply = (response: ServerResponse) => void

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Reply =>
  (response) => {
    response.writeHead(status, { "content-type": "application/json", ...headers })
    response.end(JSON.stringify(body))
  }

const completion = (content: string) =>
  json(200, {
    id: "chatcmpl-1",
    object: "chat.completion",
    model: "fake-model-2026-01",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    usage: { prompt_tokens: 120, completion_tokens: 30, total_tokens: 150 }
  })

const replies: Record<string, Reply> = {
  good: completion('{"fields":[{"name":"seats","value":12,"confidence":0.93}]}'),
  // never answers within the client's deadline
  slow: () => {},
  busy: json(429, { error: { message: "rate limited" } }, { "retry-after": "2" }),
  broken: json(500, { error: { message: "internal" } }),
  html: (response) => {
    response.writeHead(502, { "content-type": "text/html" })
    response.end("<html>bad gateway</html>")
  },
  notjson: (response) => {
    response.writeHead(200, { "content-type": "application/json" })
    response.end("{not json")
  },
  hallucinated: completion(
    JSON.stringify({
      fields: [
        { name: "seats", value: "twelve", confidence: 0.9 },
        { name: "favourite_colour", value: "blue", confidence: 0.99 },
        { name: "plan", value: "pro", confidence: 0.7 }
      ]
    })
  )
}

let server: Server
let baseUrl = ""
const seen: Array<{ authorization: string | undefined; body: any }> = []

beforeAll(async () => {
  server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let raw = ""
    request.on("data", (chunk) => {
      raw += chunk
    })
    request.on("end", () => {
      const body = JSON.parse(raw)
      seen.push({ authorization: request.headers.authorization, body })
      const reply = replies[body.messages[1].content as string]
      if (reply === undefined) json(404, { error: "no such recording" })(response)
      else reply(response)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

/** Built on first use: the server's port is known only after beforeAll. */
const ask = (user: string) =>
  Effect.suspend(() =>
    make({ baseUrl, model: "fake-model", apiKey: Redacted.make("sk-test-123"), timeoutMs: 300 }).complete({
      system: "extract",
      user,
      json: true
    })
  )

const defs: ReadonlyArray<FieldDefinition> = [
  {
    tenant_id: "t",
    agent_id: "a",
    name: "seats",
    value_type: "integer",
    scope: "BUSINESS",
    persist: true,
    is_pii: false,
    version: 1
  },
  {
    tenant_id: "t",
    agent_id: "a",
    name: "plan",
    value_type: "string",
    scope: "BUSINESS",
    persist: true,
    is_pii: false,
    version: 1
  }
]

describe("OpenAI-compatible provider", () => {
  it.effect("sends the chat request with the key and JSON format, and reads the answer and usage", () =>
    Effect.gen(function* () {
      const answer = yield* ask("good")
      expect(answer).toEqual({
        content: '{"fields":[{"name":"seats","value":12,"confidence":0.93}]}',
        model: "fake-model-2026-01",
        tokensIn: 120,
        tokensOut: 30
      })
      const request = seen.at(-1)!
      expect(request.authorization).toBe("Bearer sk-test-123")
      expect(request.body).toMatchObject({
        model: "fake-model",
        response_format: { type: "json_object" },
        messages: [
          { role: "system", content: "extract" },
          { role: "user", content: "good" }
        ]
      })
    })
  )

  it.effect("turns each failure into a typed error that says whether to try again", () =>
    Effect.gen(function* () {
      const failure = (user: string) => Effect.flip(ask(user))
      const slow = yield* failure("slow")
      expect([slow.kind, slow.retryable]).toEqual(["timeout", true])
      const busy = yield* failure("busy")
      expect([busy.kind, busy.status, busy.retryAfterMs, busy.retryable]).toEqual([
        "rate_limited",
        429,
        2000,
        true
      ])
      const broken = yield* failure("broken")
      expect([broken.kind, broken.status, broken.retryable]).toEqual(["server", 500, true])
      expect((yield* failure("html")).kind).toBe("server")
      const notJson = yield* failure("notjson")
      expect([notJson.kind, notJson.retryable]).toEqual(["malformed", false])
      const refused = yield* failure("no-such-recording")
      expect([refused.kind, refused.status, refused.retryable]).toEqual(["refused", 404, false])
      // the key never appears in an error
      for (const error of [slow, busy, broken, notJson, refused])
        expect(JSON.stringify(error)).not.toContain("sk-test")
    })
  )

  it.effect("a hallucinated answer is checked field by field: unknown fields and wrong types dropped", () =>
    Effect.gen(function* () {
      const answer = yield* ask("hallucinated")
      const parsed = parseAnswer(answer.content)
      if (Either.isLeft(parsed)) throw new Error(parsed.left)
      const accepted = acceptAnswer(parsed.right, defs)
      expect(accepted.values).toEqual([
        { name: "plan", value: "pro", confidence: 0.7, needs_human_review: true }
      ])
      expect(accepted.dropped.map((d) => [d.name, d.reason])).toEqual([
        ["seats", "invalid_value"],
        ["favourite_colour", "unknown_field"]
      ])
    })
  )
})
