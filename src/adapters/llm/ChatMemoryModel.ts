/**
 * MemoryModel over an LlmProvider (an OpenAI-compatible endpoint): the prompt templates of
 * `prompts/` as instructions, the turn's exchange as the request. The extraction answer must be the
 * template's JSON (domain/extraction.ts `parseAnswer`), or it is AnswerInvalid; which of its values
 * are kept is the worker's decision, field by field.
 */
import { Effect } from "effect"
import { parseAnswer } from "../../domain/extraction"
import type { LlmProviderService } from "../../ports/LlmProvider"
import { AnswerInvalid, type MemoryModelService } from "../../ports/MemoryModel"
import {
  ENTITY_EXTRACTION,
  SESSION_SUMMARY,
  exchangeText,
  extractionPrompt,
  summaryPrompt,
  templateId
} from "./prompts"

export const make = (provider: LlmProviderService): MemoryModelService => ({
  extract: (request) =>
    Effect.gen(function* () {
      const context =
        request.summary === null ? "" : `Earlier in this conversation (summary): ${request.summary}\n\n`
      const reply = yield* provider.complete({
        system: extractionPrompt(request.fields, request.missing),
        user: `${context}${exchangeText(request.userMessage, request.agentResponse)}`,
        json: true
      })
      const parsed = parseAnswer(reply.content)
      if (parsed._tag === "Left") return yield* new AnswerInvalid({ detail: parsed.left })
      return {
        value: parsed.right,
        model: reply.model,
        template: templateId(ENTITY_EXTRACTION),
        tokensIn: reply.tokensIn,
        tokensOut: reply.tokensOut
      }
    }),
  summarise: (request) =>
    Effect.gen(function* () {
      const reply = yield* provider.complete({
        system: summaryPrompt(request.previous),
        user: exchangeText(request.userMessage, request.agentResponse),
        json: false
      })
      const summary = reply.content.trim()
      if (summary === "") return yield* new AnswerInvalid({ detail: "the summary is empty" })
      return {
        value: summary,
        model: reply.model,
        template: templateId(SESSION_SUMMARY),
        tokensIn: reply.tokensIn,
        tokensOut: reply.tokensOut
      }
    })
})
