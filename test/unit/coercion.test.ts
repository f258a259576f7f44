import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { FieldDefinition, Validation, ValueType } from "../../schemas"
import { checkValue, validateValue } from "../../src/domain/coercion"

const def = (value_type: ValueType, validation?: Validation): FieldDefinition => ({
  tenant_id: "t1",
  agent_id: "a1",
  name: "field",
  value_type,
  scope: "BUSINESS",
  persist: true,
  is_pii: false,
  version: 1,
  ...(validation === undefined ? {} : { validation })
})

interface TypeCases {
  readonly type: ValueType
  readonly validation?: Validation
  /** [raw, normalised] */
  readonly accepted: ReadonlyArray<readonly [unknown, unknown]>
  readonly rejected: ReadonlyArray<unknown>
}

const cyclic: Record<string, unknown> = {}
cyclic.self = cyclic
const sparse: Array<number> = [1]
sparse[2] = 3

const table: ReadonlyArray<TypeCases> = [
  {
    type: "string",
    accepted: [
      ["abc", "abc"],
      ["", ""],
      [42, "42"],
      [1.5, "1.5"],
      [true, "true"]
    ],
    rejected: [null, undefined, {}, [], NaN, Infinity, -Infinity, 1n]
  },
  {
    type: "integer",
    accepted: [
      [42, 42],
      [-7, -7],
      ["42", 42],
      ["+5", 5],
      ["-0012", -12],
      ["-0", 0]
    ],
    rejected: [1.5, "1.5", "", " 42", "1e3", "abc", NaN, Infinity, true, null, "9".repeat(400)]
  },
  {
    type: "number",
    accepted: [
      [1.5, 1.5],
      ["1.5", 1.5],
      [" 2.5 ", 2.5],
      ["1e3", 1000],
      ["-3", -3],
      [0, 0]
    ],
    rejected: ["", "  ", "abc", NaN, Infinity, "Infinity", true, null, []]
  },
  {
    type: "boolean",
    accepted: [
      [true, true],
      [false, false],
      [1, true],
      [0, false],
      ["TRUE", true],
      [" yes ", true],
      ["No", false],
      ["1", true],
      ["0", false],
      ["False", false]
    ],
    rejected: [2, -1, "y", "", "maybe", null, {}]
  },
  {
    type: "date",
    accepted: [
      ["2024-02-29", "2024-02-29"],
      ["2000-02-29", "2000-02-29"],
      ["2024-12-31", "2024-12-31"]
    ],
    rejected: [
      "2024-02-30",
      "2023-02-29",
      "1900-02-29",
      "2024-13-01",
      "2024-00-10",
      "2024-01-00",
      "2024-1-01",
      " 2024-01-01",
      "2024-01-01T00:00:00Z",
      20240101,
      null
    ]
  },
  {
    type: "datetime",
    accepted: [
      ["2024-05-01T10:00:00+02:00", "2024-05-01T08:00:00.000Z"],
      ["2024-05-01T10:00:00.5Z", "2024-05-01T10:00:00.500Z"],
      ["2024-05-01T10:00Z", "2024-05-01T10:00:00.000Z"],
      ["2024-05-01T10:00:00.123456-05:30", "2024-05-01T15:30:00.123Z"],
      ["2024-12-31T23:30:00-01:00", "2025-01-01T00:30:00.000Z"],
      ["0050-06-01T00:00:00Z", "0050-06-01T00:00:00.000Z"]
    ],
    rejected: [
      "2024-05-01T10:00:00",
      "2024-13-01T10:00:00Z",
      "2024-02-30T10:00:00Z",
      "2024-05-01T24:00:00Z",
      "2024-05-01T10:60:00Z",
      "2024-05-01T10:00:60Z",
      "2024-05-01T10:00:00+25:00",
      "2024-05-01 10:00:00Z",
      "2024-05-01",
      "0000-01-01T00:00:00+01:00",
      1714557600000,
      null
    ]
  },
  {
    type: "email",
    accepted: [
      [" Jane.Doe@Example.COM ", "jane.doe@example.com"],
      ["a@b.co", "a@b.co"]
    ],
    rejected: [
      "jane@",
      "@example.com",
      "jane@example",
      "a@b@c.com",
      "jane doe@example.com",
      "jane@example..com",
      "jane@.example.com",
      "jane@example.com.",
      "",
      42,
      null
    ]
  },
  {
    type: "phone",
    accepted: [
      ["+1 (415) 555-2671", "+14155552671"],
      ["+44.20.7946.0958", "+442079460958"],
      ["+33 1 23 45 67 89", "+33123456789"]
    ],
    rejected: [
      "4155552671",
      "+0 123 4567",
      "+123456",
      "+1234567890123456",
      "+1 415 555 CALL",
      14155552671,
      null
    ]
  },
  {
    type: "url",
    accepted: [
      ["https://example.com", "https://example.com/"],
      ["HTTP://Example.com/a b?q=1", "http://example.com/a%20b?q=1"]
    ],
    rejected: [
      "ftp://example.com",
      "example.com",
      "/relative",
      "mailto:a@b.co",
      "javascript:alert(1)",
      "",
      null
    ]
  },
  {
    type: "enum",
    validation: { allowed_values: ["gold", "silver"] },
    accepted: [
      ["gold", "gold"],
      ["silver", "silver"]
    ],
    rejected: ["GOLD", "bronze", " gold", 1, null]
  },
  {
    type: "json",
    accepted: [
      [
        { a: [1, "x", null, true], b: { c: {} } },
        { a: [1, "x", null, true], b: { c: {} } }
      ],
      [[], []],
      ["s", "s"],
      [0, 0],
      [null, null],
      [Object.create(null), Object.create(null)]
    ],
    rejected: [
      undefined,
      () => 1,
      NaN,
      Infinity,
      { a: undefined },
      { d: new Date() },
      new Map(),
      cyclic,
      sparse,
      [1, undefined, 3],
      1n
    ]
  }
]

describe("validateValue: coercion by value_type (DESIGN 3.2)", () => {
  for (const { type, validation, accepted, rejected } of table) {
    describe(type, () => {
      const definition = def(type, validation)
      it.each(accepted)("accepts %o as %o", (raw, normalised) => {
        expect(validateValue(definition, raw)).toStrictEqual({ ok: true, value: normalised })
      })
      it.each(rejected.map((raw) => [raw]))("rejects %o", (raw) => {
        const result = validateValue(definition, raw)
        expect(result.ok).toBe(false)
        if (!result.ok)
          expect(result.errorType).toBe(
            type === "enum" && typeof raw === "string" ? "allowed_values" : "type"
          )
      })
    })
  }

  it("rejects every enum value when allowed_values is missing", () => {
    expect(validateValue(def("enum"), "gold")).toMatchObject({ ok: false, errorType: "allowed_values" })
  })

  it("returns a json value by reference", () => {
    const value = { nested: [1, 2] }
    const result = validateValue(def("json"), value)
    expect(result.ok && result.value).toBe(value)
  })
})

describe("validateValue: constraints on the coerced value", () => {
  const failure = (definition: FieldDefinition, raw: unknown) => {
    const result = validateValue(definition, raw)
    return result.ok ? undefined : { errorType: result.errorType, error: result.error }
  }

  it("anchors the regex to the whole string form", () => {
    const letters = def("string", { regex: "[a-z]+" })
    expect(validateValue(letters, "abc")).toStrictEqual({ ok: true, value: "abc" })
    expect(failure(letters, "abc1")).toStrictEqual({ errorType: "regex", error: "does not match pattern" })
    const alternation = def("string", { regex: "a|b" })
    expect(validateValue(alternation, "a").ok).toBe(true)
    expect(validateValue(alternation, "ab").ok).toBe(false)
  })

  it("matches the regex against the string form of numbers, JSON and normalised values", () => {
    expect(validateValue(def("integer", { regex: "\\d{3}" }), "123")).toStrictEqual({ ok: true, value: 123 })
    expect(failure(def("integer", { regex: "\\d{3}" }), 1234)?.errorType).toBe("regex")
    expect(validateValue(def("json", { regex: '\\{"a":1\\}' }), { a: 1 }).ok).toBe(true)
    expect(validateValue(def("email", { regex: "[a-z@.]+" }), " A@B.CO ").ok).toBe(true)
  })

  it("reports an invalid pattern as a regex failure instead of throwing", () => {
    expect(failure(def("string", { regex: "(" }), "x")?.errorType).toBe("regex")
  })

  it("requires allowed_values to contain the coerced value, deeply for JSON", () => {
    expect(failure(def("string", { allowed_values: ["a", "b"] }), "c")).toStrictEqual({
      errorType: "allowed_values",
      error: "not one of the allowed values"
    })
    expect(validateValue(def("integer", { allowed_values: [1, 2] }), "2")).toStrictEqual({
      ok: true,
      value: 2
    })
    expect(validateValue(def("json", { allowed_values: [{ a: 1, b: [2] }] }), { b: [2], a: 1 }).ok).toBe(true)
    expect(validateValue(def("json", { allowed_values: [{ a: 1 }] }), { a: 2 }).ok).toBe(false)
  })

  it("bounds numbers with min and max, inclusively", () => {
    const range = def("number", { min: 3, max: 10 })
    expect(failure(range, 2)).toStrictEqual({ errorType: "min", error: "below minimum 3" })
    expect(failure(range, "11")).toStrictEqual({ errorType: "max", error: "above maximum 10" })
    expect(validateValue(range, 3).ok && validateValue(range, 10).ok).toBe(true)
    expect(validateValue(def("string", { min: 5 }), 1)).toStrictEqual({ ok: true, value: "1" })
  })

  it("bounds strings with min_length and max_length in code points", () => {
    const length = def("string", { min_length: 3, max_length: 10 })
    expect(failure(length, "ab")).toStrictEqual({
      errorType: "min_length",
      error: "shorter than 3 characters"
    })
    expect(failure(length, "abcdefghijk")).toStrictEqual({
      errorType: "max_length",
      error: "longer than 10 characters"
    })
    expect(validateValue(def("string", { max_length: 2 }), "😀😀").ok).toBe(true)
    expect(validateValue(def("integer", { min_length: 5 }), 1).ok).toBe(true)
  })

  it("reports the first failing constraint: regex, allowed_values, min, max, min_length, max_length", () => {
    expect(failure(def("string", { regex: "\\d+", max_length: 1 }), "abc")?.errorType).toBe("regex")
    expect(failure(def("number", { allowed_values: [1], min: 5 }), 2)?.errorType).toBe("allowed_values")
    expect(failure(def("number", { min: 5, max: 1 }), 3)?.errorType).toBe("min")
    expect(failure(def("string", { min_length: 5, max_length: 1 }), "abc")?.errorType).toBe("min_length")
  })
})

describe("checkValue: validation modes", () => {
  const integer = def("integer", { max: 100 })

  it("strict applies the coerced value and rejects an invalid one without echoing it", () => {
    expect(checkValue(integer, "42", "strict")).toStrictEqual({ kind: "valid", value: 42 })
    expect(checkValue(integer, "abc", "strict")).toStrictEqual({
      kind: "rejected",
      error: "expected integer",
      errorType: "type"
    })
  })

  it("warn applies the coerced value when valid and the raw value, with the error, when not", () => {
    expect(checkValue(integer, "42", "warn")).toStrictEqual({ kind: "valid", value: 42 })
    const raw = { not: "an integer" }
    const result = checkValue(integer, raw, "warn")
    expect(result).toStrictEqual({ kind: "warned", value: raw, error: "expected integer", errorType: "type" })
    expect(result.kind === "warned" && result.value).toBe(raw)
    expect(checkValue(integer, "101", "warn")).toMatchObject({
      kind: "warned",
      value: "101",
      errorType: "max"
    })
  })

  it("disabled applies the raw value without coercion or checks", () => {
    expect(checkValue(integer, "42", "disabled")).toStrictEqual({ kind: "valid", value: "42" })
    expect(checkValue(integer, "abc", "disabled")).toStrictEqual({ kind: "valid", value: "abc" })
  })
})

describe("properties", () => {
  const valueTypes: ReadonlyArray<ValueType> = [
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
  ]
  const validation: fc.Arbitrary<Validation> = fc.record(
    {
      regex: fc.constantFrom(".*", "[a-z0-9@.:/+-]*", "\\d+", "("),
      allowed_values: fc.constantFrom(["gold", "silver", "1", 1, true], []),
      min: fc.integer({ min: -100, max: 100 }),
      max: fc.integer({ min: -100, max: 100 }),
      min_length: fc.nat(5),
      max_length: fc.nat(40)
    },
    { requiredKeys: [] }
  )
  const definition = fc
    .tuple(fc.constantFrom(...valueTypes), fc.option(validation, { nil: undefined }))
    .map(([type, rules]) => def(type, rules))
  const isoDate = fc.date({
    noInvalidDate: true,
    min: new Date("0001-01-01T00:00:00Z"),
    max: new Date("9999-12-31T23:59:59Z")
  })
  // fc.anything() alone rarely produces a valid date, email or phone; these reach the accepting paths.
  const input = fc.oneof(
    fc.anything(),
    fc.string(),
    fc.integer().map(String),
    fc.double(),
    fc.constantFrom(" yes ", "No", "0", "gold", "+1 (415) 555-2671", "2024-02-29", "2024-05-01T10:00+02:00"),
    isoDate.map((d) => d.toISOString()),
    isoDate.map((d) => d.toISOString().slice(0, 10)),
    fc.emailAddress().map((e) => ` ${e.toUpperCase()} `),
    fc.webUrl()
  )

  it.prop(
    "a valid result re-validates to the same value (strict never returns an invalid value)",
    [definition, input],
    ([d, raw]) => {
      const first = checkValue(d, raw, "strict")
      if (first.kind !== "valid") return
      expect(validateValue(d, first.value)).toStrictEqual({ ok: true, value: first.value })
    },
    { fastCheck: { numRuns: 2000 } }
  )

  it.prop(
    "integers round-trip through their string form",
    [fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER })],
    ([n]) => {
      const asString = validateValue(def("string"), n)
      expect(asString).toStrictEqual({ ok: true, value: String(n) })
      expect(validateValue(def("integer"), asString.ok ? asString.value : undefined)).toStrictEqual({
        ok: true,
        value: n
      })
    }
  )

  it.prop(
    "datetime normalises any zone offset to the same UTC instant",
    [isoDate, fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 })],
    ([date, offset]) => {
      const local = new Date(date.getTime() + offset * 60_000).toISOString().slice(0, 23)
      const pad = (n: number) => String(Math.floor(Math.abs(n))).padStart(2, "0")
      const zone = `${offset < 0 ? "-" : "+"}${pad(offset / 60)}:${pad(Math.abs(offset) % 60)}`
      const result = validateValue(def("datetime"), local + zone)
      if (local.startsWith("-") || local.startsWith("+")) return
      expect(result).toStrictEqual({ ok: true, value: date.toISOString() })
    }
  )

  it.prop(
    "error messages never contain the value",
    [definition, fc.stringMatching(/^[a-z]{8}$/)],
    ([d, word]) => {
      const marker = `pii_${word}_marker`
      const raws: ReadonlyArray<unknown> = [
        marker,
        `${marker}@`,
        `+${marker}`,
        `${marker}@example.com`,
        `2024-01-01T${marker}Z`,
        { marker },
        [marker]
      ]
      for (const raw of raws) {
        for (const mode of ["strict", "warn"] as const) {
          const result = checkValue(d, raw, mode)
          if (result.kind !== "valid") expect(result.error).not.toContain(marker)
        }
      }
    }
  )

  it.prop("disabled mode returns the raw value unchanged", [definition, fc.anything()], ([d, raw]) => {
    const result = checkValue(d, raw, "disabled")
    expect(result.kind).toBe("valid")
    expect(result.kind === "valid" && Object.is(result.value, raw)).toBe(true)
  })
})
