/**
 * Extraction rules (src/domain/extraction.ts) and the extraction prompt (prompts/): an answer is
 * parsed strictly, each value is kept only for a defined field with a valid value, low confidence
 * is flagged for review, the hints extractor needs no model, and the prompt describes fields
 * without ever holding a stored value.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import type { FieldDefinition } from "../../schemas"
import { extractionPrompt, templateId, ENTITY_EXTRACTION } from "../../src/adapters/llm/prompts"
import { acceptAnswer, extractByHints, fieldView, parseAnswer } from "../../src/domain/extraction"

const field = (name: string, more: Partial<FieldDefinition> = {}): FieldDefinition => ({
  tenant_id: "t1",
  agent_id: "a1",
  name,
  value_type: "string",
  scope: "IDENTITY",
  persist: true,
  is_pii: false,
  version: 1,
  ...more
})

const defs = [
  field("email", {
    is_pii: true,
    description: "the customer's e-mail address",
    extraction_hints: ["([\\w.+-]+@[\\w-]+\\.[\\w.]+)", "(((("],
    validation: { regex: "^[^@\\s]+@[^@\\s]+$" }
  }),
  field("seats", { value_type: "integer", scope: "BUSINESS", extraction_hints: ["(\\d+) seats"] }),
  field("plan", {
    value_type: "enum",
    scope: "BUSINESS",
    validation: { allowed_values: ["basic", "pro"] },
    collection_prompt: "Which plan would you like?"
  })
]

describe("an extraction answer", () => {
  it("is parsed strictly: JSON of the one shape, confidences within 0 and 1", () => {
    expect(Either.isRight(parseAnswer('{"fields":[{"name":"seats","value":3,"confidence":0.9}]}'))).toBe(true)
    expect(parseAnswer("Sure! Here is the JSON")).toEqual(Either.left("the answer is not JSON"))
    expect(Either.isLeft(parseAnswer('{"values":[]}'))).toBe(true)
    expect(Either.isLeft(parseAnswer('{"fields":[{"name":"seats","value":3,"confidence":7}]}'))).toBe(true)
  })

  it("keeps valid values of defined fields, drops the rest one by one, flags low confidence", () => {
    const accepted = acceptAnswer(
      {
        fields: [
          { name: "seats", value: "12", confidence: 0.95 },
          { name: "plan", value: "pro", confidence: 0.6 },
          { name: "email", value: "not an address", confidence: 0.99 },
          { name: "shoe_size", value: 44, confidence: 0.99 },
          { name: "seats", value: 13, confidence: 0.5 }
        ]
      },
      defs
    )
    expect(accepted.values).toEqual([
      { name: "seats", value: 12, confidence: 0.95, needs_human_review: false },
      { name: "plan", value: "pro", confidence: 0.6, needs_human_review: true }
    ])
    expect(accepted.dropped.map((d) => [d.name, d.reason])).toEqual([
      ["email", "invalid_value"],
      ["shoe_size", "unknown_field"]
    ])
  })
})

describe("the hints extractor", () => {
  it("finds values by each field's patterns, latest message first; a broken pattern is skipped", () => {
    const accepted = extractByHints(defs, [
      "I am at old@example.com and we need 4 seats",
      "actually write to new@example.com"
    ])
    expect(accepted.values).toEqual([
      { name: "email", value: "new@example.com", confidence: 0.9, needs_human_review: false },
      { name: "seats", value: 4, confidence: 0.9, needs_human_review: false }
    ])
    expect(extractByHints(defs, ["nothing to see"]).values).toEqual([])
  })
})

describe("the extraction prompt", () => {
  it("describes the agent's fields and the missing ones, and is versioned", () => {
    const prompt = extractionPrompt(defs.map(fieldView), [fieldView(defs[2]!)])
    expect(templateId(ENTITY_EXTRACTION)).toBe("entity-extraction@1")
    expect(prompt).toContain("- email (string, scope IDENTITY, personal data): the customer's e-mail address")
    expect(prompt).toContain("allowed values: basic, pro")
    expect(prompt).toContain('- plan (the agent asks: "Which plan would you like?")')
    expect(prompt).not.toContain("undefined")
  })

  it("is given field views only: no stored value can reach it", () => {
    // a definition carries no value; the view keeps only what describes the field
    expect(Object.keys(fieldView(defs[0]!)).sort()).toEqual([
      "allowed_values",
      "collection_prompt",
      "description",
      "extraction_hints",
      "is_pii",
      "name",
      "scope",
      "value_type"
    ])
  })
})
