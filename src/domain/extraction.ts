/**
 * Extraction of customer data from a conversation (issue 15), the rules only: what the model may
 * be told about the agent's fields (never their stored values), what shape its answer must have,
 * which of its values are kept (known field, valid value) and which need a human's review, and
 * the deterministic extractor driven by each field's `extraction_hints` that needs no model.
 */
import { Either, ParseResult, Schema } from "effect"
import type { FieldDefinition } from "../../schemas"
import { validateValue } from "./coercion"

/** Below this confidence an extracted value is flagged `needs_human_review`. */
export const REVIEW_BELOW = 0.8

/**
 * What a prompt may say about a field: its name, type, scope and the agent's own descriptions.
 * A PII field is described like any other; no stored value of any field is ever part of it
 * (background document 002's CustomerSchemaMask).
 */
export interface FieldView {
  readonly name: string
  readonly value_type: string
  readonly scope: string
  readonly is_pii: boolean
  readonly description: string | null
  readonly collection_prompt: string | null
  readonly extraction_hints: ReadonlyArray<string>
  readonly allowed_values: ReadonlyArray<unknown> | null
}

export const fieldView = (def: FieldDefinition): FieldView => ({
  name: def.name,
  value_type: def.value_type,
  scope: def.scope,
  is_pii: def.is_pii,
  description: def.description ?? null,
  collection_prompt: def.collection_prompt ?? null,
  extraction_hints: def.extraction_hints ?? [],
  allowed_values: def.validation?.allowed_values ?? null
})

/** The JSON a model must answer with. */
export const ExtractionAnswer = Schema.Struct({
  fields: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      value: Schema.Unknown,
      confidence: Schema.Number.pipe(Schema.between(0, 1))
    })
  )
})
export type ExtractionAnswer = typeof ExtractionAnswer.Type

/** A value kept from an answer: valid for its field, flagged for review below REVIEW_BELOW. */
export interface ExtractedValue {
  readonly name: string
  readonly value: unknown
  readonly confidence: number
  readonly needs_human_review: boolean
}

/** A value dropped from an answer, and why: never applied blindly. */
export interface DroppedValue {
  readonly name: string
  readonly reason: "unknown_field" | "invalid_value"
  readonly detail: string
}

export interface Accepted {
  readonly values: ReadonlyArray<ExtractedValue>
  readonly dropped: ReadonlyArray<DroppedValue>
}

/** A model's answer text as JSON of `schema`, or why it is not. */
export const parseJsonAnswer =
  <A, I>(schema: Schema.Schema<A, I>) =>
  (text: string): Either.Either<A, string> => {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      return Either.left("the answer is not JSON")
    }
    return Either.mapLeft(Schema.decodeUnknownEither(schema)(json), (error) =>
      ParseResult.TreeFormatter.formatErrorSync(error)
    )
  }

/** The answer's text as an ExtractionAnswer, or why it is not one (no partial trust). */
export const parseAnswer = parseJsonAnswer(ExtractionAnswer)

/**
 * Keeps each answered value whose field the agent defines and whose value its definition accepts
 * (coerced as a turn's own would be); drops the others, one by one. A field answered twice keeps
 * its most confident value.
 */
export const acceptAnswer = (answer: ExtractionAnswer, defs: ReadonlyArray<FieldDefinition>): Accepted => {
  const byName = new Map(defs.map((def) => [def.name, def]))
  const kept = new Map<string, ExtractedValue>()
  const dropped: Array<DroppedValue> = []
  for (const field of answer.fields) {
    const def = byName.get(field.name)
    if (def === undefined) {
      dropped.push({ name: field.name, reason: "unknown_field", detail: "the agent defines no such field" })
      continue
    }
    const checked = validateValue(def, field.value)
    if (!checked.ok) {
      dropped.push({ name: field.name, reason: "invalid_value", detail: checked.error })
      continue
    }
    const previous = kept.get(field.name)
    if (previous !== undefined && previous.confidence >= field.confidence) continue
    kept.set(field.name, {
      name: field.name,
      value: checked.value,
      confidence: field.confidence,
      needs_human_review: field.confidence < REVIEW_BELOW
    })
  }
  return { values: [...kept.values()], dropped }
}

/**
 * The extractor that needs no model: for each field, its `extraction_hints` are regular
 * expressions tried on the conversation, latest message first; the first capture group (or the
 * whole match) is the value, with confidence 0.9 (a pattern said so, not a person). A hint that is
 * not a valid pattern is skipped. The answer is judged by `acceptAnswer` like a model's.
 */
export const hintsAnswer = (
  fields: ReadonlyArray<Pick<FieldView, "name" | "extraction_hints">>,
  messages: ReadonlyArray<string>
): ExtractionAnswer => {
  const found: Array<{ name: string; value: unknown; confidence: number }> = []
  for (const field of fields) {
    const value = firstMatch(field.extraction_hints, messages)
    if (value !== null) found.push({ name: field.name, value, confidence: 0.9 })
  }
  return { fields: found }
}

/** `hintsAnswer` over the agent's definitions, judged. */
export const extractByHints = (
  defs: ReadonlyArray<FieldDefinition>,
  messages: ReadonlyArray<string>
): Accepted => acceptAnswer(hintsAnswer(defs.map(fieldView), messages), defs)

/** How many lines the extractive summary keeps: the newest exchanges. */
export const EXTRACTIVE_SUMMARY_LINES = 12

/**
 * The summary that needs no model: the customer's words of each exchange, one line each (at most
 * 200 characters), the newest EXTRACTIVE_SUMMARY_LINES lines.
 */
export const extractiveSummary = (previous: string | null, userMessage: string): string => {
  const line = userMessage.replace(/\s+/g, " ").trim()
  const said = `Customer: ${line.length > 200 ? `${line.slice(0, 199)}…` : line}`
  const lines = [...(previous === null || previous === "" ? [] : previous.split("\n")), said]
  return lines.slice(-EXTRACTIVE_SUMMARY_LINES).join("\n")
}

const firstMatch = (hints: ReadonlyArray<string>, messages: ReadonlyArray<string>): string | null => {
  const patterns = hints.flatMap((hint) => {
    try {
      return [new RegExp(hint, "iu")]
    } catch {
      return []
    }
  })
  for (let m = messages.length - 1; m >= 0; m--) {
    for (const pattern of patterns) {
      const match = pattern.exec(messages[m]!)
      if (match !== null) return (match[1] ?? match[0]).trim()
    }
  }
  return null
}
