/** Field definitions: the schema layer that customer data is validated against (DESIGN 3.1). */
import { Schema } from "effect"

export const ValueType = Schema.Literal(
  "string",
  "integer",
  "number",
  "boolean",
  "date",
  "datetime",
  "email",
  "phone",
  "url",
  "enum",
  "json"
)
export type ValueType = typeof ValueType.Type

export const Scope = Schema.Literal("IDENTITY", "BUSINESS", "CASE", "SESSION")
export type Scope = typeof Scope.Type

export const ValidationMode = Schema.Literal("strict", "warn", "disabled")
export type ValidationMode = typeof ValidationMode.Type

export const Validation = Schema.Struct({
  regex: Schema.optional(Schema.String),
  allowed_values: Schema.optional(Schema.Array(Schema.Unknown)),
  min: Schema.optional(Schema.Number),
  max: Schema.optional(Schema.Number),
  min_length: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.nonNegative())),
  max_length: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.nonNegative()))
}).annotations({ identifier: "Validation" })
export type Validation = typeof Validation.Type

const NonEmpty = Schema.String.pipe(Schema.minLength(1)).annotations({
  title: "non-empty string",
  description: "a string at least 1 character long"
})

/** One field definition as it appears in DEFS.json and in the store. */
export const FieldDefinition = Schema.Struct({
  tenant_id: NonEmpty,
  agent_id: NonEmpty,
  name: NonEmpty.pipe(
    Schema.maxLength(128),
    Schema.filter((name) => name !== "__proto__" || "__proto__ is not a field name", {
      jsonSchema: { not: { const: "__proto__" } }
    })
  ).annotations({
    description:
      "1 to 128 characters, not __proto__ (a candidate variable of that name is always an unknown field)"
  }),
  value_type: ValueType,
  scope: Scope,
  persist: Schema.optionalWith(
    Schema.Boolean.annotations({ description: "false keeps the value in the session only; default true" }),
    { default: () => true }
  ),
  validation: Schema.optional(Validation),
  validation_mode: Schema.optional(
    ValidationMode.annotations({ description: "overrides the global validation mode for this field" })
  ),
  is_pii: Schema.optionalWith(Schema.Boolean.annotations({ description: "default false" }), {
    default: () => false
  }),
  expires_after_seconds: Schema.optional(Schema.Number.pipe(Schema.positive())),
  description: Schema.optional(Schema.String),
  collection_prompt: Schema.optional(Schema.String),
  extraction_hints: Schema.optional(Schema.Array(Schema.String)),
  version: Schema.optionalWith(
    Schema.Number.pipe(Schema.int(), Schema.positive()).annotations({ description: "default 1" }),
    { default: () => 1 }
  )
}).annotations({ identifier: "FieldDefinition", title: "turnvault field definition" })
export type FieldDefinition = typeof FieldDefinition.Type
export type FieldDefinitionEncoded = typeof FieldDefinition.Encoded

/** The DEFS.json file: an array of definitions. */
export const FieldDefinitions = Schema.Array(FieldDefinition).annotations({
  identifier: "FieldDefinitions",
  title: "turnvault field definitions file"
})
