/**
 * Port: a chat-completions model (issue 15's extraction and summaries). One request in, one
 * answer out, and a typed error that says whether trying again can help: a timeout, a rate limit
 * (with the provider's Retry-After), a server error, or an answer that is not a chat answer at
 * all. Retrying and backing off are the caller's (the ingest worker's) policy, not the adapter's.
 */
import { Context, Data, type Effect } from "effect"

export interface ChatRequest {
  /** Instructions (the rendered prompt template). */
  readonly system: string
  /** The conversation window or other input. */
  readonly user: string
  /** Ask for a JSON object answer (response_format json_object). */
  readonly json: boolean
}

export interface ChatAnswer {
  readonly content: string
  /** The model that answered, as the provider names it. */
  readonly model: string
  readonly tokensIn: number
  readonly tokensOut: number
}

export type LlmErrorKind = "timeout" | "rate_limited" | "server" | "refused" | "malformed"

export class LlmError extends Data.TaggedError("LlmError")<{
  readonly kind: LlmErrorKind
  readonly message: string
  readonly status?: number
  /** From Retry-After on a 429, when the provider said. */
  readonly retryAfterMs?: number
}> {
  /** A timeout, a rate limit or a server error may pass; a refused or malformed request will not. */
  get retryable(): boolean {
    return this.kind === "timeout" || this.kind === "rate_limited" || this.kind === "server"
  }
}

export interface LlmProviderService {
  readonly complete: (request: ChatRequest) => Effect.Effect<ChatAnswer, LlmError>
}

export class LlmProvider extends Context.Tag("turnvault/LlmProvider")<LlmProvider, LlmProviderService>() {}
