/**
 * Decodes one raw message into a typed turn event, or says why it goes to the DLQ.
 * The detail names fields and rules, never the offending values (they may be PII).
 *
 * Two paths give the same answer: `decodeTurnEventWithSchema` runs the Effect Schema decoder, the
 * source of truth; `decodeTurnEvent`, the one the stream uses, first tries the ajv-compiled fast path
 * of compiledValidator.ts and falls back to the Effect decoder for whatever the fast path does not
 * accept, so every DecodeFailure is still Effect's (test/unit/decodeFastPath.test.ts compares them).
 */
import { Either, ParseResult, Schema } from "effect"
import { CaseClosed, SessionEnded, TurnCompleted, type TurnEvent } from "../schemas"
import { compileFastDecoder, type FastDecoder } from "./compiledValidator"

export type DecodeFailure = {
  readonly reason: "malformed_json" | "schema_violation"
  readonly detail: string
}

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
  "case.closed": eventDecoder(CaseClosed)
}

/** The fast path alone, by `event_type`: `undefined` where it leaves the input to the Effect decoder. */
export const fastDecoders: Readonly<Record<string, FastDecoder<TurnEvent>>> = Object.fromEntries(
  Object.entries(decoders).map(([eventType, decoder]) => [eventType, decoder.fast])
)

const describe = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const lines = issues.slice(0, 5).map((issue) => {
    const path = issue.path.length === 0 ? "event" : issue.path.join(".")
    const what = issue._tag === "Missing" ? "is missing" : issue.message.replace(/,?\s*actual[\s\S]*$/, "")
    return `${path}: ${what}`
  })
  const more = issues.length > 5 ? ` (+${issues.length - 5} more)` : ""
  return lines.join("; ") + more
}

interface Parsed {
  readonly json: object
  readonly decoder: EventDecoder
}

/** JSON.parse, then the checks that pick the event's decoder. */
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
  return Either.right({ json, decoder })
}

const decodeWithSchema = ({ json, decoder }: Parsed): Either.Either<TurnEvent, DecodeFailure> =>
  Either.mapLeft(decoder.schema(json), (error) => ({ reason: "schema_violation", detail: describe(error) }))

/** The Effect Schema decoder alone: the reference `decodeTurnEvent` must agree with. */
export const decodeTurnEventWithSchema = (raw: string): Either.Either<TurnEvent, DecodeFailure> =>
  Either.flatMap(parse(raw), decodeWithSchema)

/**
 * The fast path when it accepts (ajv does not touch its input, so the fallback sees the parsed JSON
 * as it came), else the Effect decoder: its value, or its DecodeFailure.
 */
export const decodeTurnEvent = (raw: string): Either.Either<TurnEvent, DecodeFailure> =>
  Either.flatMap(parse(raw), (parsed) => {
    const event = parsed.decoder.fast(parsed.json)
    return event === undefined ? decodeWithSchema(parsed) : Either.right(event)
  })
