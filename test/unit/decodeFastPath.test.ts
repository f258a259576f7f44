/**
 * `decodeTurnEvent` (ajv-compiled fast path, Effect as fallback) must answer exactly as
 * `decodeTurnEventWithSchema` (Effect Schema alone): both accept with the same value, down to key
 * order and prototypes, or both reject with the same DecodeFailure. Checked on the examples, on the
 * test builders, on synthetic traffic, on hand-picked edge cases and on fuzzed mutations of valid events.
 */
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Arbitrary, Either, FastCheck as fc, type Schema } from "effect"
import { describe, expect, it } from "vitest"
import { CaseClosed, SessionEnded, TurnCompleted } from "../../schemas"
import { defaultTrafficOptions, makeSyntheticTraffic } from "../../src/dev/SyntheticTraffic"
import {
  MAX_NESTING,
  decodeRecordValue,
  decodeTurnEvent,
  decodeTurnEventWithSchema,
  fastDecoders,
  storableProblem,
  unlocatedAsset
} from "../../streams/decode"
import { caseClosed, ended, turn } from "../support/events"

type Json = null | boolean | number | string | Array<Json> | { [key: string]: Json }

const examplesDir = fileURLToPath(new URL("../../schemas/examples/", import.meta.url))
const examples = (dir: "valid" | "invalid"): ReadonlyArray<readonly [string, string]> =>
  readdirSync(`${examplesDir}${dir}`)
    .filter((file) => file.startsWith("turn-event.") && file.endsWith(".json"))
    .sort()
    .map((file) => [file, readFileSync(`${examplesDir}${dir}/${file}`, "utf8")] as const)

/** A value as data: own keys in order, prototypes other than Object.prototype, -0 apart from 0. */
const shape = (value: unknown): unknown => {
  if (Array.isArray(value)) return { array: value.map(shape) }
  if (typeof value === "object" && value !== null) {
    const proto = Object.getPrototypeOf(value)
    return {
      keys: Object.keys(value).map((key) => [key, shape((value as Record<string, unknown>)[key])]),
      proto: proto === Object.prototype ? "Object.prototype" : shape(proto)
    }
  }
  if (typeof value === "number") return Object.is(value, -0) ? "number:-0" : `number:${value}`
  return [typeof value, value]
}

/** Whether the fast path alone accepted the message (else the Effect decoder answered). */
const tookFastPath = (raw: string): boolean => {
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch {
    return false
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return false
  const eventType = (json as { event_type?: unknown }).event_type
  const fast =
    typeof eventType === "string" && Object.hasOwn(fastDecoders, eventType)
      ? fastDecoders[eventType]
      : undefined
  const decoded = fast?.(json)
  // what the stores cannot hold is refused after decoding, whichever decoder answered
  return decoded !== undefined && storableProblem(decoded) === null && unlocatedAsset(decoded) === null
}

type Verdict = "fast" | "fallback-accepted" | "rejected"

/** Asserts both paths agree on `raw`; says which way it went. */
const expectSame = (raw: string): Verdict => {
  const fast = decodeTurnEvent(raw)
  const reference = decodeTurnEventWithSchema(raw)
  if (Either.isRight(reference)) {
    expect(Either.isRight(fast), `fast path rejected what Effect accepts: ${raw}`).toBe(true)
    if (Either.isRight(fast)) expect(shape(fast.right), raw).toEqual(shape(reference.right))
    return tookFastPath(raw) ? "fast" : "fallback-accepted"
  }
  expect(
    Either.isLeft(fast),
    `fast path accepted what Effect rejects: ${reference.left.detail}: ${raw}`
  ).toBe(true)
  if (Either.isLeft(fast)) expect(fast.left).toEqual(reference.left)
  expect(tookFastPath(raw), raw).toBe(false)
  return "rejected"
}

const minimal = JSON.parse(readFileSync(`${examplesDir}valid/turn-event.minimal.json`, "utf8")) as Record<
  string,
  Json
>
const full = JSON.parse(readFileSync(`${examplesDir}valid/turn-event.full.json`, "utf8")) as Record<
  string,
  Json
>

/** Sets an own property even for `__proto__` (a plain assignment would set the prototype). */
const setOwn = (target: object, key: string, value: unknown): void => {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

/** `base` with the value at `path` set (an own property, even for `__proto__`), as JSON text. */
const withField = (base: Record<string, Json>, path: ReadonlyArray<string | number>, value: Json) => {
  const copy = structuredClone(base) as Json
  let node = copy as Record<string | number, Json>
  for (const step of path.slice(0, -1)) node = node[step] as Record<string | number, Json>
  setOwn(node, String(path[path.length - 1]), value)
  return JSON.stringify(copy)
}

describe("examples in schemas/examples", () => {
  for (const [file, raw] of examples("valid")) {
    it(`${file}: accepted alike, on the fast path`, () => {
      expect(expectSame(raw)).toBe("fast")
    })
  }
  for (const [file, raw] of examples("invalid")) {
    it(`${file}: rejected alike`, () => {
      expect(expectSame(raw)).toBe("rejected")
    })
  }
})

describe("events of test/support/events.ts", () => {
  const events: ReadonlyArray<readonly [string, unknown]> = [
    ["turn", turn({ turn: 1 })],
    ["turn with variables", turn({ turn: 2, vars: { email: "a@b.c", n: 3, o: { deep: [1, { x: null }] } } })],
    ["turn with case and extras", turn({ turn: 3, caseId: "case-1", extra: { x_trace: { id: 1 } } })],
    ["turn numbered 0", turn({ turn: 0 })],
    ["turn at a zone-less time", turn({ turn: 1, at: "2026-01-01T10:00:00" })],
    ["ended", ended({ reason: "ABANDONED" })],
    ["case closed", caseClosed({ caseId: "case-9" })],
    ["case closed with its case", { ...caseClosed({ caseId: "case-9" }), case_id: "case-9" }]
  ]
  for (const [name, event] of events) {
    it(name, () => {
      expectSame(JSON.stringify(event))
    })
  }
})

describe("synthetic traffic (src/dev/SyntheticTraffic.ts, with invalid values and malformed lines)", () => {
  it("agrees on 3000 lines and takes the fast path for the valid ones", () => {
    const traffic = makeSyntheticTraffic({ ...defaultTrafficOptions, seed: 7, malformedShare: 0.02 })
    const verdicts: Record<Verdict, number> = { fast: 0, "fallback-accepted": 0, rejected: 0 }
    for (let i = 0; i < 3000; i++) verdicts[expectSame(traffic.next().value)]++
    expect(verdicts.fast).toBeGreaterThan(2500)
    expect(verdicts["fallback-accepted"]).toBe(0)
    expect(verdicts.rejected).toBeGreaterThan(0)
  })
})

describe("edge cases", () => {
  /** Replaces a JSON-stringified marker by raw JSON text that JSON.stringify cannot write. */
  const rawNumber = (raw: string, text: string) => raw.replace('"__raw__"', text)

  const cases: ReadonlyArray<readonly [string, string]> = [
    ["turn_number 1e20 (JSON Schema integer, not a safe integer)", withField(full, ["turn_number"], 1e20)],
    ["turn_number 2^53", withField(full, ["turn_number"], 2 ** 53)],
    ["turn_number 2^53 - 1", withField(full, ["turn_number"], 2 ** 53 - 1)],
    ["turn_number 1.5", withField(full, ["turn_number"], 1.5)],
    ["turn_number 1.0", rawNumber(withField(full, ["turn_number"], "__raw__"), "1.0")],
    ["turn_number 100e-2", rawNumber(withField(full, ["turn_number"], "__raw__"), "100e-2")],
    ["turn_number 1e999", rawNumber(withField(full, ["turn_number"], "__raw__"), "1e999")],
    ["turn_number as a string", withField(full, ["turn_number"], "1")],
    ["regeneration_attempts 1e20", withField(full, ["enforcement", "regeneration_attempts"], 1e20)],
    [
      "regeneration_attempts -0",
      rawNumber(withField(full, ["enforcement", "regeneration_attempts"], "__raw__"), "-0")
    ],
    [
      "score 1e999 (Infinity: Effect accepts, ajv does not)",
      rawNumber(withField(full, ["matched_rules", 0, "score"], "__raw__"), "1e999")
    ],
    [
      "duration_ms 1e999",
      rawNumber(withField(full, ["tool_executions", 0, "duration_ms"], "__raw__"), "1e999")
    ],
    [
      "duration_ms -1e999",
      rawNumber(withField(full, ["tool_executions", 0, "duration_ms"], "__raw__"), "-1e999")
    ],
    [
      "confidence 1e999",
      rawNumber(withField(full, ["candidate_variables", "email", "confidence"], "__raw__"), "1e999")
    ],
    [
      "confidence -0",
      rawNumber(withField(full, ["candidate_variables", "email", "confidence"], "__raw__"), "-0")
    ],
    ["occurred_at 2026-13-45T99:00:00Z", withField(full, ["occurred_at"], "2026-13-45T99:00:00Z")],
    [
      "occurred_at 2026-02-30T10:00:00Z (impossible day)",
      withField(full, ["occurred_at"], "2026-02-30T10:00:00Z")
    ],
    [
      "occurred_at with 25 fraction digits",
      withField(full, ["occurred_at"], "2024-05-01T10:15:00.1234567890123456789012345Z")
    ],
    ["occurred_at with +0530", withField(full, ["occurred_at"], "2024-05-01T10:15:00+0530")],
    ["occurred_at with a trailing newline", withField(full, ["occurred_at"], "2024-05-01T10:15:00Z\n")],
    [
      "candidate variable without value (Effect accepts it as undefined)",
      withField(full, ["candidate_variables", "email"], { confidence: 1 })
    ],
    [
      "candidate variable with value null",
      withField(full, ["candidate_variables", "email"], { value: null })
    ],
    ["__proto__ at the top level", withField(full, ["__proto__"], { polluted: true })],
    [
      "__proto__ as a candidate variable",
      withField(full, ["candidate_variables", "__proto__"], { value: { polluted: 1 } })
    ],
    [
      "__proto__ as an invalid candidate variable",
      withField(full, ["candidate_variables", "__proto__"], { value: 1, source: "X" })
    ],
    [
      "__proto__ inside a candidate variable",
      withField(full, ["candidate_variables", "email", "__proto__"], { value: 2 })
    ],
    [
      "__proto__ inside a value",
      withField(full, ["candidate_variables", "email", "value"], JSON.parse('{"__proto__":{"a":1}}'))
    ],
    [
      "__proto__ as a lifecycle decision",
      withField(full, ["scenario", "lifecycle_decisions", "__proto__"], "EXIT")
    ],
    [
      "__proto__ as a step transition",
      withField(full, ["scenario", "step_transitions", "__proto__"], { from_step: null, to_step: "x" })
    ],
    ["__proto__ inside enforcement", withField(full, ["enforcement", "__proto__"], { blocked: true })],
    [
      "constructor as a candidate variable",
      withField(full, ["candidate_variables", "constructor"], { value: 1 })
    ],
    ["toString at the top level", withField(full, ["toString"], "x")],
    ["lone surrogate as tenant_id", withField(full, ["tenant_id"], "\ud800")],
    ["emoji as event_id", withField(full, ["event_id"], "\u{1F600}")],
    ["NUL as session_id", withField(full, ["session_id"], "\u0000")],
    ["empty tool_id", withField(full, ["tool_executions", 0, "tool_id"], "")],
    ["array as candidate_variables", withField(full, ["candidate_variables"], [])],
    ["array as scenario", withField(full, ["scenario"], [])],
    ["array as enforcement", withField(full, ["enforcement"], [])],
    ["object as matched_rules", withField(full, ["matched_rules"], {})],
    [
      "string as from_step",
      withField(full, ["scenario", "step_transitions", "order-status", "from_step"], "x")
    ],
    [
      "number as from_step",
      withField(full, ["scenario", "step_transitions", "order-status", "from_step"], 1)
    ],
    [
      "missing to_step",
      JSON.stringify({
        ...full,
        scenario: { awaiting_user_input: true, step_transitions: { a: { from_step: null } } }
      })
    ],
    ["event_type of another kind", withField(full, ["event_type"], "session.ended")],
    ["schema_version 1.0", rawNumber(withField(minimal, ["schema_version"], "__raw__"), "1.0")],
    [
      "event_type constructor (not an own key of the decoder table)",
      withField(minimal, ["event_type"], "constructor")
    ],
    ["event_type toString", withField(minimal, ["event_type"], "toString")],
    ["event_type __proto__", withField(minimal, ["event_type"], "__proto__")],
    ["event_type hasOwnProperty", withField(minimal, ["event_type"], "hasOwnProperty")],
    ["a JSON array", "[]"],
    ["a JSON string", '"turn.completed"'],
    ["malformed JSON", '{"schema_version":1,"event_type":'],
    [
      "duplicate keys (the last one wins in both)",
      JSON.stringify(minimal).replace('"turn_number":', '"turn_number":0,"turn_number":')
    ]
  ]
  for (const [name, raw] of cases) {
    it(name, () => {
      expectSame(raw)
    })
  }

  it("rejects an event_type named like an Object.prototype member, instead of throwing", () => {
    for (const eventType of ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"]) {
      const raw = JSON.stringify({ ...minimal, event_type: eventType })
      expect(decodeTurnEvent(raw)).toEqual(
        Either.left({
          reason: "schema_violation",
          detail:
            "event_type: expected one of turn.completed, session.ended, case.closed, extraction.completed"
        })
      )
    }
  })

  it("drops excess properties at every level, like Effect, and keeps the schema's key order", () => {
    const [, raw] = examples("valid").find(([file]) => file === "turn-event.unknown-field.json")!
    expect(expectSame(raw)).toBe("fast")
    const decoded = Either.getOrThrow(decodeTurnEvent(raw))
    expect(decoded).not.toHaveProperty("x_trace")
    expect(decoded).not.toHaveProperty("scenario.priority")
    expect(decoded).not.toHaveProperty("enforcement.policy_set")
    expect(decoded).not.toHaveProperty("matched_rules.0.engine")
    expect(decoded).not.toHaveProperty("tool_executions.0.retries")
    expect(decoded).not.toHaveProperty("candidate_variables.mood.extractor")
    expect(decoded).not.toHaveProperty("scenario.step_transitions.farewell.at")
  })

  it("keeps a candidate variable named __proto__ as an own property, prototype untouched", () => {
    const raw = withField(full, ["candidate_variables", "__proto__"], { value: "v", source: "TOOL" })
    for (const decode of [decodeTurnEvent, decodeTurnEventWithSchema]) {
      const decoded = Either.getOrThrow(decode(raw))
      if (decoded.event_type !== "turn.completed") throw new Error("not a turn")
      expect(Object.hasOwn(decoded.candidate_variables, "__proto__")).toBe(true)
      expect(Object.keys(decoded.candidate_variables)).toContain("__proto__")
      expect(Object.getOwnPropertyDescriptor(decoded.candidate_variables, "__proto__")?.value).toEqual({
        value: "v",
        source: "TOOL"
      })
      expect(Object.getPrototypeOf(decoded.candidate_variables)).toBe(Object.prototype)
    }
    expect(Object.getPrototypeOf({})).toBe(Object.prototype)
  })

  it("rejects an invalid candidate variable named __proto__, naming it", () => {
    const raw = withField(full, ["candidate_variables", "__proto__"], { value: 1, source: "X" })
    expect(decodeTurnEvent(raw)).toEqual(decodeTurnEventWithSchema(raw))
    const failure = Either.flip(decodeTurnEvent(raw)).pipe(Either.getOrThrow)
    expect(failure.reason).toBe("schema_violation")
    expect(failure.detail).toMatch(/^candidate_variables\.__proto__\.source: /)
  })
})

/** `depth` levels of nested objects, innermost `{}`: depth 1 is `{}` itself. */
const nested = (depth: number): Json => {
  let value: Json = {}
  for (let i = 1; i < depth; i++) value = { a: value }
  return value
}

describe("the wire contract refuses what the stores cannot hold", () => {
  const detailOf = (raw: string) => {
    const decoded = decodeTurnEvent(raw)
    expect(decoded).toEqual(decodeTurnEventWithSchema(raw))
    return Either.isLeft(decoded) ? `${decoded.left.reason}: ${decoded.left.detail}` : "accepted"
  }
  const turnOf = (over: Record<string, Json>) => JSON.stringify({ ...full, ...over })

  it.each([
    [
      "a NUL in a value",
      ["candidate_variables", "email", "value"],
      "a\u0000b",
      "candidate_variables.email.value: contains a NUL character (U+0000)"
    ],
    ["a NUL in session_id", ["session_id"], "s\u0000", "session_id: contains a NUL character (U+0000)"],
    [
      "a lone surrogate in a value",
      ["user_message"],
      "x\ud800",
      "user_message: contains a lone UTF-16 surrogate"
    ],
    [
      "a lone low surrogate",
      ["agent_response"],
      "\udc00x",
      "agent_response: contains a lone UTF-16 surrogate"
    ]
  ] as const)("%s", (_, path, value, detail) => {
    expect(detailOf(withField(full, [...path], value))).toBe(`schema_violation: ${detail}`)
  })

  it("a NUL in a variable name is refused without echoing the name", () => {
    const raw = withField(full, ["candidate_variables", "em\u0000ail"], { value: 1 })
    expect(detailOf(raw)).toBe(
      "schema_violation: candidate_variables: a property name contains a NUL character (U+0000)"
    )
  })

  it("an asset must say where its content is: a uri or an inline_ref", () => {
    const asset = {
      asset_id: "doc-1",
      kind: "document",
      mime_type: "application/pdf",
      size_bytes: 10,
      sha256: "a".repeat(64)
    }
    expect(
      detailOf(
        turnOf({
          assets: [
            { ...asset, uri: "s3://b/doc-1.pdf" },
            { ...asset, asset_id: "d2" }
          ]
        })
      )
    ).toBe("schema_violation: assets.1: needs a uri or an inline_ref")
    expect(
      detailOf(
        turnOf({
          assets: [
            { ...asset, inline_ref: "msg-1/0" },
            { ...asset, uri: "s3://b/x" }
          ]
        })
      )
    ).toBe("accepted")
  })

  it("a surrogate pair (an emoji) is fine anywhere", () => {
    expect(detailOf(withField(full, ["user_message"], "ok \u{1F600}"))).toBe("accepted")
  })

  it("turn_number must fit a 32-bit column", () => {
    expect(detailOf(turnOf({ turn_number: 2 ** 31 - 1 }))).toBe("accepted")
    expect(detailOf(turnOf({ turn_number: 2 ** 31 }))).toMatch(/^schema_violation: turn_number: /)
  })

  it("ids and variable names are bounded; the detail does not repeat a long name", () => {
    expect(detailOf(turnOf({ session_id: "s".repeat(256) }))).toBe("accepted")
    expect(detailOf(turnOf({ session_id: "s".repeat(257) }))).toMatch(/^schema_violation: session_id: /)
    expect(detailOf(turnOf({ tenant_id: "t".repeat(129) }))).toMatch(/^schema_violation: tenant_id: /)
    expect(detailOf(turnOf({ turn_id: "t".repeat(10_000) }))).toMatch(/^schema_violation: turn_id: /)
    const longName = "v".repeat(129)
    const detail = detailOf(withField(full, ["candidate_variables", longName], { value: 1 }))
    expect(detail).toMatch(/^schema_violation: candidate_variables/)
    expect(detail).not.toContain(longName)
  })

  it(`nesting: ${MAX_NESTING} levels pass, one more is refused, and depth costs no recursion`, () => {
    // the event is level 1, candidate_variables 2, the variable 3, its value 4
    const at = (depth: number) => withField(full, ["candidate_variables", "email", "value"], nested(depth))
    expect(detailOf(at(MAX_NESTING - 3))).toBe("accepted")
    expect(detailOf(at(MAX_NESTING - 2))).toBe(
      `schema_violation: candidate_variables.email.value${".a".repeat(MAX_NESTING - 3)}: nested deeper than ${MAX_NESTING} levels`
    )
    const deep = withField(full, ["candidate_variables", "email", "value"], "__deep__").replace(
      '"__deep__"',
      `${"[".repeat(100_000)}${"]".repeat(100_000)}`
    )
    expect(detailOf(deep)).toMatch(/nested deeper than/)
  })

  it("what decoding ignores is not checked: an unknown field may hold anything", () => {
    expect(detailOf(turnOf({ x_trace: "a\u0000b", x_deep: nested(100) }))).toBe("accepted")
  })
})

describe("record bytes", () => {
  const bytes = (s: string) => Buffer.from(s, "utf8")
  it("bytes that are not UTF-8 are malformed_json, even inside a JSON string", () => {
    const valid = bytes(JSON.stringify(full))
    const at = valid.indexOf(bytes("Jane"))
    const broken = Buffer.concat([valid.subarray(0, at), Buffer.from([0xc3, 0x28]), valid.subarray(at)])
    expect(decodeRecordValue(broken, 1 << 20)).toEqual(
      Either.left({ reason: "malformed_json", detail: "not valid UTF-8" })
    )
    expect(Either.isRight(decodeRecordValue(valid, 1 << 20))).toBe(true)
  })

  it("an event over the maximum is too_large, with its size and the maximum", () => {
    const raw = bytes(JSON.stringify(full))
    expect(decodeRecordValue(raw, raw.length)._tag).toBe("Right")
    expect(decodeRecordValue(raw, raw.length - 1)).toEqual(
      Either.left({
        reason: "too_large",
        detail: `event: ${raw.length} bytes, more than the maximum of ${raw.length - 1}`
      })
    )
  })
})

// ---------------------------------------------------------------------------------------------
// Fuzzing: valid events from the Effect schemas, then mutated at random places.
// ---------------------------------------------------------------------------------------------

/** Valid events of each kind, generated from the schemas themselves, as JSON. */
const validEvent: fc.Arbitrary<Json> = fc
  .oneof(
    Arbitrary.make(TurnCompleted as Schema.Schema<unknown>),
    Arbitrary.make(SessionEnded as Schema.Schema<unknown>),
    Arbitrary.make(CaseClosed as Schema.Schema<unknown>),
    fc.constantFrom<unknown>(
      minimal,
      full,
      turn({ turn: 4, vars: { a: 1 } }),
      ended({}),
      caseClosed({ caseId: "c" })
    )
  )
  .map((event) => JSON.parse(JSON.stringify(event)) as Json)

const rawMarker = "__raw_json__:"
const rawNumbers = [
  "1e999",
  "-1e999",
  "-0",
  "1.0",
  "1e0",
  "100e-2",
  "0.1e1",
  "1E400",
  "9007199254740993",
  "1e-400"
]

const pad = (n: number, width = 2) => String(n).padStart(width, "0")
const dateTime = fc.oneof(
  fc.constantFrom(
    "2026-13-45T99:00:00Z",
    "2026-02-30T10:00:00Z",
    "2026-02-29T10:00:00Z",
    "2024-05-01T10:15:00",
    "2024-05-01",
    "2024-05-01T10:15:00z",
    "2024-05-01T24:00:00Z",
    "2024-05-01T10:15:00.Z",
    "2024-05-01T10:15:00+24:00",
    " 2024-05-01T10:15:00Z",
    "2024-05-01T10:15:00Z\n"
  ),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc
    .tuple(
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: 0, max: 14 }),
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 26 }),
      fc.integer({ min: 0, max: 61 }),
      fc.option(fc.integer({ min: 0, max: 61 })),
      fc.option(fc.stringMatching(/^\d{1,12}$/)),
      fc.constantFrom("Z", "+00:00", "-05:30", "+0530", "+23:59", "-24:00", "+5:30", "")
    )
    .map(
      ([y, mo, d, h, mi, s, frac, zone]) =>
        `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}${s === null ? "" : `:${pad(s)}${frac === null ? "" : `.${frac}`}`}${zone}`
    )
)

const oddString = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.string({ unit: "grapheme", minLength: 1 }),
  fc.constantFrom("", " ", "\u0000", "\ud800", "\udfff\ud800", "\u{1F600}", "\u2028", "null", "1", "true"),
  fc.constantFrom("USER", "TOOL", "X", "START", "PAUSE", "ENDED", "ABANDONED", "CLOSED"),
  fc.constantFrom(
    "turn.completed",
    "session.ended",
    "case.closed",
    "turn.Completed",
    "constructor",
    "__proto__"
  ),
  dateTime
)

const oddNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  {
    arbitrary: fc.constantFrom(
      0,
      -0,
      1,
      -1,
      0.5,
      1.5,
      2,
      1e-7,
      2 ** 53 - 1,
      2 ** 53,
      2 ** 53 + 2,
      1e20,
      -1e20
    ),
    weight: 3
  },
  fc.constantFrom(Number.MAX_VALUE, Number.MIN_VALUE, -Number.MAX_SAFE_INTEGER),
  fc.constantFrom(...rawNumbers).map((text) => `${rawMarker}${text}`)
)

const oddValue: fc.Arbitrary<Json> = fc.oneof(
  oddString,
  oddNumber,
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom<Json>([], {}, [null], { value: 1 }, { from_step: null, to_step: "s" }, ["x"]),
  fc.constantFrom<Json>(
    { awaiting_user_input: false },
    { tool_id: "t", success: true },
    { violations: [], blocked: false, regeneration_attempts: 0 },
    { rule_id: "r", score: 1 }
  ),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>
)

/** Every property name of the event schemas, nested structs included. */
const knownKeys = [
  "schema_version",
  "event_type",
  "event_id",
  "tenant_id",
  "agent_id",
  "session_id",
  "customer_id",
  "occurred_at",
  "case_id",
  "turn_id",
  "turn_number",
  "user_message",
  "agent_response",
  "canonical_intent",
  "candidate_variables",
  "value",
  "confidence",
  "source",
  "matched_rules",
  "rule_id",
  "score",
  "scenario",
  "active_scenario_id",
  "current_step_id",
  "awaiting_user_input",
  "lifecycle_decisions",
  "step_transitions",
  "from_step",
  "to_step",
  "reason",
  "tool_executions",
  "tool_id",
  "success",
  "error",
  "duration_ms",
  "enforcement",
  "violations",
  "blocked",
  "regeneration_attempts"
]
const excessKey = fc.oneof(
  fc.string(),
  fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "0", "-1"),
  fc.constantFrom(...knownKeys)
)

type Mutation =
  | { readonly kind: "delete"; readonly at: number }
  | { readonly kind: "replace"; readonly at: number; readonly value: Json }
  | {
      readonly kind: "field"
      readonly at: number
      readonly value: Json
      readonly number: Json
      readonly string: Json
    }
  | { readonly kind: "add"; readonly at: number; readonly key: string; readonly value: Json }

/**
 * Aimed at a slot named like a schema property (random slots mostly land in big values), and for a
 * number or a string, a value of the same type most of the time: a near miss.
 */
const fieldMutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constant("field" as const),
  at: fc.nat(),
  value: oddValue,
  number: fc.oneof({ arbitrary: oddNumber, weight: 4 }, oddValue),
  string: fc.oneof({ arbitrary: oddString, weight: 4 }, oddValue)
})

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("replace" as const), at: fc.nat(), value: oddValue }),
  fieldMutation,
  fc.record({ kind: fc.constant("add" as const), at: fc.nat(), key: excessKey, value: oddValue })
)

/** Every (container, key) slot of a JSON tree, root included as (undefined, ""). */
const slots = (root: Json): Array<readonly [Record<string, Json> | Array<Json> | undefined, string]> => {
  const out: Array<readonly [Record<string, Json> | Array<Json> | undefined, string]> = [[undefined, ""]]
  const walk = (node: Json) => {
    if (typeof node !== "object" || node === null) return
    for (const key of Object.keys(node)) {
      out.push([node, key])
      walk((node as Record<string, Json>)[key]!)
    }
  }
  walk(root)
  return out
}

const mutate = (event: Json, mutations: ReadonlyArray<Mutation>): string => {
  let root = structuredClone(event)
  for (const m of mutations) {
    const everySlot = slots(root)
    const fields = everySlot.filter(([, key]) => knownKeys.includes(key))
    const all = m.kind === "field" && fields.length > 0 ? fields : everySlot
    const [parent, key] = all[m.at % all.length]!
    const current = parent === undefined ? root : (parent as Record<string, Json>)[key]!
    if (m.kind === "delete") {
      if (parent !== undefined) delete (parent as Record<string, Json>)[key]
    } else if (m.kind === "replace" || m.kind === "field") {
      const value =
        m.kind === "field" && typeof current === "number"
          ? m.number
          : m.kind === "field" && typeof current === "string"
            ? m.string
            : m.value
      if (parent === undefined) root = structuredClone(value)
      else setOwn(parent, key, structuredClone(value))
    } else if (typeof current === "object" && current !== null && !Array.isArray(current)) {
      setOwn(current, m.key, structuredClone(m.value))
    } else if (Array.isArray(current)) {
      current.push(structuredClone(m.value))
    }
  }
  return JSON.stringify(root).replace(new RegExp(`"${rawMarker}([^"]*)"`, "g"), "$1")
}

describe("fuzzing", () => {
  it("valid events generated from the schemas: accepted alike, nearly all on the fast path", () => {
    const verdicts: Record<Verdict, number> = { fast: 0, "fallback-accepted": 0, rejected: 0 }
    fc.assert(
      fc.property(validEvent, (event) => {
        verdicts[expectSame(JSON.stringify(event))]++
      }),
      { numRuns: 1000 }
    )
    expect(verdicts.fast).toBeGreaterThan(500)
  })

  it("mutated events (missing fields, wrong types, odd strings and numbers, excess properties)", () => {
    const verdicts: Record<Verdict, number> = { fast: 0, "fallback-accepted": 0, rejected: 0 }
    fc.assert(
      fc.property(validEvent, fc.array(mutation, { minLength: 1, maxLength: 4 }), (event, mutations) => {
        verdicts[expectSame(mutate(event, mutations))]++
      }),
      { numRuns: 4000 }
    )
    // The mix exercises both outcomes of the fast path, not only the fallback.
    expect(verdicts.fast).toBeGreaterThan(400)
    expect(verdicts.rejected).toBeGreaterThan(400)
  })

  it("near misses on one property of valid events (same type, value out of its rule)", () => {
    const verdicts: Record<Verdict, number> = { fast: 0, "fallback-accepted": 0, rejected: 0 }
    fc.assert(
      fc.property(validEvent, fieldMutation, (event, m) => {
        verdicts[expectSame(mutate(event, [m]))]++
      }),
      { numRuns: 3000 }
    )
    expect(verdicts.fast).toBeGreaterThan(300)
    expect(verdicts.rejected).toBeGreaterThan(300)
  })

  it("excess properties at every level of valid events: accepted alike, mostly on the fast path", () => {
    const verdicts: Record<Verdict, number> = { fast: 0, "fallback-accepted": 0, rejected: 0 }
    const add = fc.record({
      kind: fc.constant("add" as const),
      at: fc.nat(),
      key: excessKey,
      value: oddValue
    })
    fc.assert(
      fc.property(validEvent, fc.array(add, { minLength: 1, maxLength: 6 }), (event, mutations) => {
        verdicts[expectSame(mutate(event, mutations))]++
      }),
      { numRuns: 1000 }
    )
    // A key added to a record (candidate_variables, ...) is an entry, not an excess property: it may
    // be rejected, or accepted by Effect alone (a candidate variable without `value`).
    expect(verdicts.fast).toBeGreaterThan(300)
  })
})
