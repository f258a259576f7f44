/**
 * Decodes one raw message into a typed turn event, or says why it goes to the DLQ.
 * The detail names fields and rules, never the offending values (they may be PII).
 *
 * Two paths give the same answer: `decodeTurnEventWithSchema` runs the Effect Schema decoder, the
 * source of truth; `decodeTurnEvent`, the one the stream uses, first tries the ajv-compiled fast path
 * of compiledValidator.ts and falls back to the Effect decoder for whatever the fast path does not
 * accept, so every DecodeFailure is still Effect's (test/unit/decodeFastPath.test.ts compares them).
 */
import { isUtf8 } from "node:buffer"
import { Either, ParseResult, Schema } from "effect"
import {
  CandidateVariable,
  CaseClosed,
  ExtractionCompleted,
  SessionEnded,
  TurnCompleted,
  type TurnEvent
} from "../schemas"
import { compileFastDecoder, type FastDecoder } from "./compiledValidator"

export type DecodeFailure = {
  readonly reason: "malformed_json" | "schema_violation" | "too_large"
  readonly detail: string
}

/** How deep an event may nest (the event object is level 1): deeper values are refused at the door. */
export const MAX_NESTING = 32

const options = { errors: "all", onExcessProperty: "ignore" } as const

interface EventDecoder {
  readonly schema: (u: unknown) => Either.Either<TurnEvent, ParseResult.ParseError>
  readonly fast: FastDecoder<TurnEvent>
}

const eventDecoder = <A extends TurnEvent, I>(schema: Schema.Schema<A, I, never>): EventDecoder => ({
  schema: Schema.decodeUnknownEither(schema, options),
  fast: compileFastDecoder(schema, options)
})

/** Decoding by `event_type` first, so an error speaks about the right kind of event. */
const decoders: Record<string, EventDecoder> = {
  "turn.completed": eventDecoder(TurnCompleted),
  "session.ended": eventDecoder(SessionEnded),
  "case.closed": eventDecoder(CaseClosed),
  "extraction.completed": eventDecoder(ExtractionCompleted)
}

/** The fast path alone, by `event_type`: `undefined` where it leaves the input to the Effect decoder. */
export const fastDecoders: Readonly<Record<string, FastDecoder<TurnEvent>>> = Object.fromEntries(
  Object.entries(decoders).map(([eventType, decoder]) => [eventType, decoder.fast])
)

const describe = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const lines = issues.slice(0, 5).map((issue) => {
    const path =
      issue.path.length === 0
        ? "event"
        : issue.path.map((p) => (SAFE_NAME.test(String(p)) ? String(p) : "<name>")).join(".")
    const what = issue._tag === "Missing" ? "is missing" : issue.message.replace(/,?\s*actual[\s\S]*$/, "")
    return `${path}: ${what}`
  })
  const more = issues.length > 5 ? ` (+${issues.length - 5} more)` : ""
  return lines.join("; ") + more
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
const SAFE_NAME = /^[^\u0000-\u001f\uD800-\uDFFF]{1,128}$/

/** `String.prototype.isWellFormed` (ES2024, in Node 20): false when a lone surrogate is in it. */
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed()

/** Why a string cannot be stored (PostgreSQL text and jsonb refuse both), or null. */
const unstorable = (s: string): string | null => {
  if (s.includes("\u0000")) return "contains a NUL character (U+0000)"
  if (!isWellFormed(s)) return "contains a lone UTF-16 surrogate"
  return null
}

/** An object or array still to look at, with the way back to the event for the detail. */
interface Visit {
  readonly value: object
  readonly name: string
  readonly parent: Visit | null
  readonly depth: number
}

/** The path of a value named `name` inside `visit`, for a detail (unprintable names as `<name>`). */
const pathOf = (visit: Visit | null, name?: string): string => {
  const names: Array<string> = name === undefined ? [] : [name]
  for (let v: Visit | null = visit; v !== null && v.parent !== null; v = v.parent) names.push(v.name)
  const shown = names.reverse().map((n) => (SAFE_NAME.test(n) ? n : "<name>"))
  return shown.length === 0 ? "event" : shown.join(".")
}

/**
 * What the stores cannot hold anywhere in a decoded event, whatever the schema says of the field: a
 * NUL character or a lone surrogate in any string or property name, or nesting deeper than
 * MAX_NESTING levels. An explicit stack of the containers (strings are checked where they are
 * found), so a deep value costs no recursion (V8's JSON.parse is not recursive either). Returns the
 * failure with the path it names, or null.
 */
export const storableProblem = (json: object): string | null => {
  const stack: Array<Visit> = [{ value: json, name: "", parent: null, depth: 1 }]
  while (stack.length > 0) {
    const visit = stack.pop()!
    if (visit.depth > MAX_NESTING) return `${pathOf(visit)}: nested deeper than ${MAX_NESTING} levels`
    const depth = visit.depth + 1
    const container = visit.value
    const isArray = Array.isArray(container)
    const keys = isArray ? null : Object.keys(container)
    const size = isArray ? container.length : keys!.length
    for (let i = 0; i < size; i++) {
      // an array index becomes a name only on the way into a failure's path or onto the stack
      const key = isArray ? null : keys![i]!
      if (key !== null) {
        const why = unstorable(key)
        if (why !== null) return `${pathOf(visit)}: a property name ${why}`
      }
      const value: unknown =
        key === null ? (container as ReadonlyArray<unknown>)[i] : (container as Record<string, unknown>)[key]
      if (typeof value === "string") {
        const why = unstorable(value)
        if (why !== null) return `${pathOf(visit, key ?? String(i))}: ${why}`
      } else if (typeof value === "object" && value !== null) {
        stack.push({ value, name: key ?? String(i), parent: visit, depth })
      }
    }
  }
  return null
}

interface Parsed {
  readonly json: object
  readonly decoder: EventDecoder
  /** A candidate variable named `__proto__`, set aside before decoding (see `setAsideProto`). */
  readonly protoVariable: { readonly value: unknown; readonly names: ReadonlyArray<string> } | null
}

/**
 * A candidate variable named `__proto__` is a variable like any other (an unknown field, since no
 * definition may bear the name), but a decoder that copies a record key by key assigns it, which
 * sets the copy's prototype: the variable would vanish. It is taken out of the parsed JSON before
 * decoding and put back afterwards as an own property (`restoreProto`).
 */
const setAsideProto = (json: object): Parsed["protoVariable"] => {
  const variables = (json as { candidate_variables?: unknown }).candidate_variables
  if (typeof variables !== "object" || variables === null || !Object.hasOwn(variables, "__proto__"))
    return null
  const record = variables as Record<string, unknown>
  const names = Object.keys(record)
  // An own property shadows Object.prototype's accessor, for reading and for deleting.
  const value = record.__proto__
  delete record.__proto__
  return { value, names }
}

const decodeCandidate = Schema.decodeUnknownEither(CandidateVariable, options)

const restoreProto = (parsed: Parsed, event: TurnEvent): Either.Either<TurnEvent, DecodeFailure> => {
  if (parsed.protoVariable === null || event.event_type !== "turn.completed") return Either.right(event)
  const decoded = decodeCandidate(parsed.protoVariable.value)
  if (decoded._tag === "Left")
    return Either.left({
      reason: "schema_violation",
      detail: describe(decoded.left).replace(/^(event|[^:]*)/, (p) =>
        p === "event" ? "candidate_variables.__proto__" : `candidate_variables.__proto__.${p}`
      )
    })
  // Rebuilt in the producer's order, every name an own property (defineProperty never sets a prototype).
  const decodedVariables: Record<string, unknown> = event.candidate_variables
  const variables = {}
  for (const name of parsed.protoVariable.names) {
    const value = name === "__proto__" ? decoded.right : decodedVariables[name]
    Object.defineProperty(variables, name, { value, enumerable: true, writable: true, configurable: true })
  }
  return Either.right({ ...event, candidate_variables: variables } as TurnEvent)
}

/** JSON.parse, then the checks that pick the event's decoder (the stores' limits come after it). */
const parse = (raw: string): Either.Either<Parsed, DecodeFailure> => {
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch (error) {
    // V8 quotes an excerpt of the input in some messages, which may hold PII: those are replaced.
    const message = (error as Error).message
    const quotesInput = message.includes('"') || message.includes("'")
    return Either.left({
      reason: "malformed_json",
      detail: `not valid JSON: ${quotesInput ? "unexpected token" : message}`
    })
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return Either.left({ reason: "schema_violation", detail: "event: expected a JSON object" })
  }
  const eventType = (json as { event_type?: unknown }).event_type
  // Own keys only: `decoders.constructor` or `decoders.__proto__` are not decoders.
  const decoder =
    typeof eventType === "string" && Object.hasOwn(decoders, eventType) ? decoders[eventType] : undefined
  if (decoder === undefined) {
    return Either.left({
      reason: "schema_violation",
      detail: `event_type: expected one of ${Object.keys(decoders).join(", ")}`
    })
  }
  return Either.right({ json, decoder, protoVariable: setAsideProto(json) })
}

const decodeWithSchema = (parsed: Parsed): Either.Either<TurnEvent, DecodeFailure> =>
  Either.mapLeft(parsed.decoder.schema(parsed.json), (error) => ({
    reason: "schema_violation",
    detail: describe(error)
  }))

/**
 * The decoded event, if the stores can hold every string in it and its depth: the walk sees only
 * what decoding kept, so unknown fields (ignored at any depth) cannot refuse an event.
 */
const storable = (event: TurnEvent): Either.Either<TurnEvent, DecodeFailure> => {
  const problem = storableProblem(event)
  return problem === null ? Either.right(event) : Either.left({ reason: "schema_violation", detail: problem })
}

/**
 * The rule the schema states but cannot check (a one-of would leave the JSON Schema and the fast
 * path): every asset says where its content is, by `uri` or `inline_ref`.
 */
export const unlocatedAsset = (event: TurnEvent): string | null => {
  if (event.event_type !== "turn.completed" || event.assets === undefined) return null
  const index = event.assets.findIndex((asset) => asset.uri === undefined && asset.inline_ref === undefined)
  return index < 0 ? null : `assets.${index}: needs a uri or an inline_ref`
}

const located = (event: TurnEvent): Either.Either<TurnEvent, DecodeFailure> => {
  const problem = unlocatedAsset(event)
  return problem === null ? Either.right(event) : Either.left({ reason: "schema_violation", detail: problem })
}

/** The Effect Schema decoder alone: the reference `decodeTurnEvent` must agree with. */
export const decodeTurnEventWithSchema = (raw: string): Either.Either<TurnEvent, DecodeFailure> =>
  Either.flatMap(parse(raw), (parsed) =>
    decodeWithSchema(parsed).pipe(
      Either.flatMap((event) => restoreProto(parsed, event)),
      Either.flatMap(storable),
      Either.flatMap(located)
    )
  )

/**
 * The fast path when it accepts (ajv does not touch its input, so the fallback sees the parsed JSON
 * as it came), else the Effect decoder: its value, or its DecodeFailure.
 */
export const decodeTurnEvent = (raw: string): Either.Either<TurnEvent, DecodeFailure> =>
  Either.flatMap(parse(raw), (parsed) => {
    const event = parsed.decoder.fast(parsed.json)
    const decoded = event === undefined ? decodeWithSchema(parsed) : Either.right(event)
    return decoded.pipe(
      Either.flatMap((e) => restoreProto(parsed, e)),
      Either.flatMap(storable),
      Either.flatMap(located)
    )
  })

/** The largest event accepted by default (TURNVAULT_MAX_EVENT_BYTES): 1 MiB. */
export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024

/**
 * The `too_large` failure of an event over the maximum, or null. Its key counts too where it has one
 * (on the input topic: it travels on as a header and as the DLQ key).
 */
export const tooLarge = (
  bytes: Buffer,
  maxEventBytes: number,
  key: string | null = null
): DecodeFailure | null => {
  const size = bytes.length + (key === null ? 0 : Buffer.byteLength(key))
  return size > maxEventBytes
    ? { reason: "too_large", detail: `event: ${size} bytes, more than the maximum of ${maxEventBytes}` }
    : null
}

/**
 * Decodes a record's bytes as they came off the log: larger than `maxEventBytes` is `too_large`,
 * bytes that are not UTF-8 are `malformed_json` (a lenient decoder would replace them and store
 * something the producer never sent), the rest is `decodeTurnEvent`.
 */
export const decodeRecordValue = (
  bytes: Buffer,
  maxEventBytes: number
): Either.Either<TurnEvent, DecodeFailure> => {
  const large = tooLarge(bytes, maxEventBytes)
  if (large !== null) return Either.left(large)
  if (!isUtf8(bytes)) return Either.left({ reason: "malformed_json", detail: "not valid UTF-8" })
  return decodeTurnEvent(bytes.toString("utf8"))
}
