/**
 * Port: what the ingest worker asks of a model (issue 15): the customer data a turn states, and a
 * session's rolling summary. Two adapters: over an LlmProvider with the prompt templates
 * (adapters/llm/ChatMemoryModel.ts), and the embedded default that needs no network
 * (adapters/embedded/HintsMemoryModel.ts: each field's `extraction_hints`). Retrying is the
 * worker's policy; the errors say whether it can help.
 */
import { Context, Data, type Effect } from "effect"
import type { ExtractionAnswer, FieldView } from "../domain/extraction"
import type { LlmError } from "./LlmProvider"

/** The model answered, but not with what the template asks for (not JSON, wrong shape). */
export class AnswerInvalid extends Data.TaggedError("AnswerInvalid")<{ readonly detail: string }> {}

export interface ExtractionRequest {
  /** The fields the model may fill: the agent's profile fields, described, never their values. */
  readonly fields: ReadonlyArray<FieldView>
  /** Required fields the turn's scenario step still lacks, asked for first (gap fill). */
  readonly missing: ReadonlyArray<Pick<FieldView, "name" | "collection_prompt">>
  /** The session's summary so far, for context (null before the first one). */
  readonly summary: string | null
  readonly userMessage: string
  readonly agentResponse: string
}

export interface SummaryRequest {
  readonly previous: string | null
  readonly userMessage: string
  readonly agentResponse: string
}

export interface ModelReply<A> {
  readonly value: A
  /** The model that answered, as its provider names it (`hints` for the embedded extractor). */
  readonly model: string
  /** name@version of the template used. */
  readonly template: string
  readonly tokensIn: number
  readonly tokensOut: number
}

export interface MemoryModelService {
  readonly extract: (
    request: ExtractionRequest
  ) => Effect.Effect<ModelReply<ExtractionAnswer>, LlmError | AnswerInvalid>
  readonly summarise: (request: SummaryRequest) => Effect.Effect<ModelReply<string>, LlmError | AnswerInvalid>
}

export class MemoryModel extends Context.Tag("turnvault/MemoryModel")<MemoryModel, MemoryModelService>() {}
