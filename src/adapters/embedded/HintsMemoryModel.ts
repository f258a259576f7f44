/**
 * The MemoryModel that needs no network (the embedded default of `turnvault ingest`): each field's
 * `extraction_hints` as regular expressions on the customer's message, and an extractive summary
 * of the customer's own words (domain/extraction.ts). Deterministic, so tests and `npm start` run
 * offline and give the same answer every time.
 */
import { Effect } from "effect"
import { extractiveSummary, hintsAnswer } from "../../domain/extraction"
import type { MemoryModelService } from "../../ports/MemoryModel"

export const MODEL = "embedded"
export const EXTRACTION_TEMPLATE = "extraction-hints@1"
export const SUMMARY_TEMPLATE = "extractive-summary@1"

export const make = (): MemoryModelService => ({
  extract: (request) =>
    Effect.succeed({
      value: hintsAnswer(request.fields, [request.userMessage]),
      model: MODEL,
      template: EXTRACTION_TEMPLATE,
      tokensIn: 0,
      tokensOut: 0
    }),
  summarise: (request) =>
    Effect.succeed({
      value: extractiveSummary(request.previous, request.userMessage),
      model: MODEL,
      template: SUMMARY_TEMPLATE,
      tokensIn: 0,
      tokensOut: 0
    })
})
