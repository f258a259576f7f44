/**
 * Decodes one raw message into a typed turn event, or says why it goes to the DLQ.
 * The detail names fields and rules, never the offending values (they may be PII).
 */
import { Either, ParseResult, Schema } from "effect"
import { CaseClosed, SessionEnded, TurnCompleted, type TurnEvent } from "../schemas"

export type DecodeFailure = {
  readonly reason: "malformed_json" | "schema_violation"
  readonly detail: string
}

const options = { errors: "all", onExcessProperty: "ignore" } as const
/** Decoding by `event_type` first, so an error speaks about the right kind of event. */
const decoders: Record<string, (u: unknown) => Either.Either<TurnEvent, ParseResult.ParseError>> = {
  "turn.completed": Schema.decodeUnknownEither(TurnCompleted, options),
  "session.ended": Schema.decodeUnknownEither(SessionEnded, options),
  "case.closed": Schema.decodeUnknownEither(CaseClosed, options)
}

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

export const decodeTurnEvent = (raw: string): Either.Either<TurnEvent, DecodeFailure> => {
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
  const decode = typeof eventType === "string" ? decoders[eventType] : undefined
  if (decode === undefined) {
    return Either.left({
      reason: "schema_violation",
      detail: `event_type: expected one of ${Object.keys(decoders).join(", ")}`
    })
  }
  return Either.mapLeft(decode(json), (error) => ({ reason: "schema_violation", detail: describe(error) }))
}
