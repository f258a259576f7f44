/**
 * LlmProvider over an OpenAI-compatible chat-completions endpoint (`POST {baseUrl}/chat/completions`):
 * OpenAI itself, or any server that speaks its API. The API key is a redacted value and never
 * logged; every request has a deadline; the answer is checked against the part of the response
 * shape we read, so a proxy's HTML error page is a `malformed` error, not a crash.
 */
import { Clock, Effect, Redacted, Schema } from "effect"
import { type ChatRequest, LlmError, type LlmProviderService } from "../../ports/LlmProvider"

export interface OpenAiCompatibleConfig {
  /** e.g. https://api.openai.com/v1 */
  readonly baseUrl: string
  readonly model: string
  readonly apiKey: Redacted.Redacted<string>
  readonly timeoutMs: number
}

const Completion = Schema.Struct({
  model: Schema.String,
  choices: Schema.NonEmptyArray(Schema.Struct({ message: Schema.Struct({ content: Schema.String }) })),
  usage: Schema.optional(Schema.Struct({ prompt_tokens: Schema.Number, completion_tokens: Schema.Number }))
})

/** Retry-After in seconds or as an HTTP date, in ms from now; undefined when absent or unreadable. */
const retryAfterMs = (header: string | null, now: number): number | undefined => {
  if (header === null) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/**
 * Runs `use` with a signal that aborts after `ms` or when `interrupted` does. A plain timer and an
 * AbortController, not AbortSignal.timeout inside AbortSignal.any: Node may collect a composite
 * signal's timeout before it fires, and the request then waits for ever.
 */
const within = async <A>(ms: number, interrupted: AbortSignal, use: (signal: AbortSignal) => Promise<A>) => {
  const controller = new AbortController()
  const abort = () => controller.abort()
  const timer = setTimeout(abort, ms)
  interrupted.addEventListener("abort", abort, { once: true })
  try {
    return await use(controller.signal)
  } finally {
    clearTimeout(timer)
    interrupted.removeEventListener("abort", abort)
  }
}

export const make = (config: OpenAiCompatibleConfig): LlmProviderService => {
  const url = `${config.baseUrl.replace(/\/+$/, "")}/chat/completions`
  /** The request and its whole answer, status and body. */
  const post = async (signal: AbortSignal, request: ChatRequest) => {
    const response = await fetch(url, {
      method: "POST",
      signal,
      headers: {
        authorization: `Bearer ${Redacted.value(config.apiKey)}`,
        "content-type": "application/json"
      },
      body: JSON.stringify({
        model: config.model,
        messages: [
          { role: "system", content: request.system },
          { role: "user", content: request.user }
        ],
        ...(request.json ? { response_format: { type: "json_object" } } : {})
      })
    })
    return { response, text: await response.text() }
  }
  const complete = (request: ChatRequest) =>
    Effect.gen(function* () {
      const { response, text } = yield* Effect.tryPromise({
        try: (interrupted) => within(config.timeoutMs, interrupted, (signal) => post(signal, request)),
        catch: (cause) =>
          cause instanceof Error && cause.name === "AbortError"
            ? new LlmError({ kind: "timeout", message: `no answer within ${config.timeoutMs} ms` })
            : new LlmError({ kind: "server", message: `request failed: ${String(cause)}` })
      })
      if (response.status === 429) {
        const after = retryAfterMs(response.headers.get("retry-after"), yield* Clock.currentTimeMillis)
        return yield* new LlmError({
          kind: "rate_limited",
          status: 429,
          message: "rate limited by the provider",
          ...(after === undefined ? {} : { retryAfterMs: after })
        })
      }
      if (response.status >= 500)
        return yield* new LlmError({
          kind: "server",
          status: response.status,
          message: `provider error ${response.status}`
        })
      if (response.status >= 400)
        return yield* new LlmError({
          kind: "refused",
          status: response.status,
          message: `provider refused the request (${response.status})`
        })
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        return yield* new LlmError({
          kind: "malformed",
          status: response.status,
          message: "the response is not JSON"
        })
      }
      const completion = yield* Schema.decodeUnknown(Completion)(json).pipe(
        Effect.mapError(
          () =>
            new LlmError({
              kind: "malformed",
              status: response.status,
              message: "not a chat-completions response"
            })
        )
      )
      return {
        content: completion.choices[0].message.content,
        model: completion.model,
        tokensIn: completion.usage?.prompt_tokens ?? 0,
        tokensOut: completion.usage?.completion_tokens ?? 0
      }
    })
  return { complete }
}
