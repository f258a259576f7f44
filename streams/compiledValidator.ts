/**
 * Fast path of `decode.ts`: a validator compiled by ajv from the turn-event JSON Schema, followed by a
 * "finisher" derived from the Effect schema's AST. Together they accept an input only when the Effect
 * decoder would, and return what it would return; for anything else they answer `undefined` and the
 * caller runs the Effect decoder, which stays the source of truth and writes the error message.
 *
 * Why both, and why they agree with Effect:
 * - ajv checks the structure: JSON types, required keys, literals, records and arrays, and the
 *   refinements the JSON Schema carries (minLength, pattern, minimum, maximum). Every one of those is as
 *   strict as, or stricter than, the Effect check it was generated from: an ajv `number` is also finite
 *   (`strictNumbers`), an `object` is what `Predicate.isRecord` accepts, `required` needs the key. Where
 *   ajv is stricter (`Infinity` from `1e999`, a missing `value: Schema.Unknown`, which Effect accepts as
 *   `undefined`), the input merely leaves the fast path.
 * - The finisher walks the valid input along the Effect AST. It runs every `Schema.filter` predicate
 *   again, with Effect's own functions: that covers what JSON Schema cannot say or says differently
 *   (the `ZonedDateTime` `Date.parse` filter, whose `jsonSchema: {}` leaves it out of the file;
 *   `Schema.int` is `Number.isSafeInteger` while JSON Schema's `integer` accepts `1e20`; ajv's
 *   `minLength`/`maxLength` count code points where Effect counts UTF-16 units). It also builds the
 *   output the way `ParseResult` does with `onExcessProperty: "ignore"`: a new object per struct holding
 *   the known properties in the schema's order (excess properties dropped at every level), records
 *   copied key by key with a plain assignment (so an own `__proto__` key from JSON.parse ends up as the
 *   prototype of the copy, exactly as Effect does), `Schema.Unknown` values passed through untouched.
 *
 * The validator is compiled from `schemas/json/turn-event.schema.json` rather than from
 * `JSONSchema.make(...)` at start-up: it is the very document producers validate against, the unit
 * test in test/unit/schemas.test.ts fails in CI when it drifts from the Effect definitions, a static
 * import works alike under tsx, vitest and tsc (resolveJsonModule), and the service does not render
 * and post-process JSON Schema (the `$id` of `Schema.Unknown`, see schemas/generate.ts) when it starts.
 */
import Ajv, { type ValidateFunction } from "ajv"
import { Option, type Schema, SchemaAST } from "effect"
import turnEventJsonSchema from "../schemas/json/turn-event.schema.json" with { type: "json" }

/** Returns the decoded value, or `undefined` when the Effect decoder must decide. */
export type FastDecoder<A> = (input: unknown) => A | undefined

const schemaKey = "turn-event"

const ajv = new Ajv({
  // The generated schema compiles in strict mode (test/unit/schemas.test.ts does the same).
  strict: true,
  // The first failure is enough: the message comes from Effect.
  allErrors: false,
  // `pattern` as Effect's RegExp, without the `u` flag.
  unicodeRegExp: false
})
ajv.addSchema(turnEventJsonSchema, schemaKey)

/** Thrown (no stack, not an Error) by the finisher when the input must go to the Effect decoder. */
const notFast: unique symbol = Symbol("notFast")

type Finisher = (input: unknown) => unknown

const identity: Finisher = (input) => input

type Kind = "string" | "number" | "boolean" | "null" | "undefined" | "object" | "array" | "any"

const unsupported = (ast: SchemaAST.AST): never => {
  throw new Error(
    `fast decode path: unsupported schema node ${ast._tag} (${String(ast)}); extend compiledValidator.ts`
  )
}

/** Which JSON values a union member can stand for, to pick the member as Effect's union parser does. */
const kindOf = (ast: SchemaAST.AST): Kind => {
  switch (ast._tag) {
    case "Refinement":
      return kindOf(ast.from)
    case "StringKeyword":
      return "string"
    case "NumberKeyword":
      return "number"
    case "BooleanKeyword":
      return "boolean"
    case "UndefinedKeyword":
      return "undefined"
    case "UnknownKeyword":
    case "AnyKeyword":
      return "any"
    case "TypeLiteral":
      return "object"
    case "TupleType":
      return "array"
    case "Literal":
      if (ast.literal === null) return "null"
      if (typeof ast.literal === "string") return "string"
      if (typeof ast.literal === "number") return "number"
      if (typeof ast.literal === "boolean") return "boolean"
      return unsupported(ast)
    default:
      return unsupported(ast)
  }
}

const kindOfValue = (input: unknown): Kind =>
  input === null ? "null" : Array.isArray(input) ? "array" : (typeof input as Kind)

/** The members of a union, nested unions (`optional(NullOr(...))`) flattened. */
const members = (ast: SchemaAST.AST): ReadonlyArray<SchemaAST.AST> =>
  ast._tag === "Union" ? ast.types.flatMap(members) : [ast]

/** A member that neither refines nor rebuilds anything, so its finisher is the identity. */
const isPlain = (ast: SchemaAST.AST): boolean =>
  ast._tag === "StringKeyword" ||
  ast._tag === "NumberKeyword" ||
  ast._tag === "BooleanKeyword" ||
  ast._tag === "UndefinedKeyword" ||
  ast._tag === "UnknownKeyword" ||
  ast._tag === "AnyKeyword" ||
  ast._tag === "Literal"

interface Property {
  readonly name: string
  readonly optional: boolean
  readonly finish: Finisher
}

/**
 * A struct without index signatures, as generated code (like ajv's own validators): one named store per
 * property, in the schema's order. A loop over the properties would store through one megamorphic
 * keyed access and cost more than ajv's whole validation. Names are embedded with JSON.stringify.
 */
const structFinisher = (properties: ReadonlyArray<Property>): Finisher => {
  const lines = properties.map((p, k) => {
    const key = JSON.stringify(p.name)
    const value = p.finish === identity ? `input[${key}]` : `f${k}(input[${key}])`
    return `if (hasOwn(input, ${key})) output[${key}] = ${value};${p.optional ? "" : " else throw notFast;"}`
  })
  const body = `return function finishStruct(input) {\n  const output = {};\n  ${lines.join("\n  ")}\n  return output;\n}`
  const make = new Function("hasOwn", "notFast", ...properties.map((_, k) => `f${k}`), body)
  return make(Object.hasOwn, notFast, ...properties.map((p) => p.finish)) as Finisher
}

/**
 * The finisher of a node: given an input that ajv found valid, the Effect decoder's output for it, or
 * `throw notFast`. Types are not checked again (ajv did); refinements are.
 */
const finisher = (ast: SchemaAST.AST, options: SchemaAST.ParseOptions): Finisher => {
  switch (ast._tag) {
    case "StringKeyword":
    case "NumberKeyword":
    case "BooleanKeyword":
    case "UndefinedKeyword":
    case "UnknownKeyword":
    case "AnyKeyword":
    case "Literal":
      return identity
    case "Refinement": {
      const from = finisher(ast.from, options)
      const refinement = ast
      return (input) => {
        const out = from(input)
        if (Option.isSome(refinement.filter(out, options, refinement))) throw notFast
        return out
      }
    }
    case "TypeLiteral": {
      const properties = ast.propertySignatures.map((ps) => {
        if (typeof ps.name !== "string") return unsupported(ast)
        const property: Property = {
          name: ps.name,
          optional: ps.isOptional,
          finish: finisher(ps.type, options)
        }
        return property
      })
      const expected = new Set<string>(properties.map((p) => p.name))
      const indexes = ast.indexSignatures.map((is) => {
        if (is.parameter._tag !== "StringKeyword") return unsupported(ast)
        return finisher(is.type, options)
      })
      if (indexes.length === 0) return structFinisher(properties)
      return (input) => {
        const record = input as Record<string, unknown>
        const output: Record<string, unknown> = {}
        for (const p of properties) {
          if (Object.hasOwn(record, p.name)) output[p.name] = p.finish(record[p.name])
          else if (!p.optional) throw notFast
        }
        for (const finish of indexes) {
          for (const key of Object.keys(record)) {
            const value = finish(record[key])
            // A plain assignment, as ParseResult does: for a `__proto__` key it sets the prototype.
            if (!expected.has(key)) output[key] = value
          }
        }
        return output
      }
    }
    case "TupleType": {
      const rest = ast.rest[0]
      if (ast.elements.length > 0 || ast.rest.length !== 1 || rest === undefined) return unsupported(ast)
      const finish = finisher(rest.type, options)
      if (finish === identity) return (input) => (input as ReadonlyArray<unknown>).slice()
      return (input) => (input as ReadonlyArray<unknown>).map((item) => finish(item))
    }
    case "Union": {
      const byKind = new Map<Kind, Finisher>()
      const seen = new Map<Kind, Array<SchemaAST.AST>>()
      for (const member of members(ast)) {
        const kind = kindOf(member)
        seen.set(kind, [...(seen.get(kind) ?? []), member])
      }
      for (const [kind, candidates] of seen) {
        if (kind === "any") return unsupported(ast)
        if (candidates.length === 1) byKind.set(kind, finisher(candidates[0]!, options))
        else if (candidates.every(isPlain)) byKind.set(kind, identity)
        else return unsupported(ast)
      }
      return (input) => {
        const finish = byKind.get(kindOfValue(input))
        if (finish === undefined) throw notFast
        return finish(input)
      }
    }
    default:
      return unsupported(ast)
  }
}

/**
 * Compiles the fast decoder of one event schema: its `identifier` names its definition in the JSON
 * Schema file (`#/$defs/TurnCompleted`, as `JSONSchema.make` writes it).
 */
export const compileFastDecoder = <A, I>(
  schema: Schema.Schema<A, I, never>,
  options: SchemaAST.ParseOptions
): FastDecoder<A> => {
  const identifier = Option.getOrThrowWith(
    SchemaAST.getIdentifierAnnotation(schema.ast),
    () => new Error(`fast decode path: ${String(schema.ast)} has no identifier`)
  )
  const validate: ValidateFunction | undefined = ajv.getSchema(`${schemaKey}#/$defs/${identifier}`)
  if (validate === undefined)
    throw new Error(`fast decode path: ${identifier} is not in turn-event.schema.json`)
  const finish = finisher(schema.ast, options)
  return (input) => {
    if (!validate(input)) return undefined
    try {
      return finish(input) as A
    } catch (error) {
      if (error === notFast) return undefined
      throw error
    }
  }
}
