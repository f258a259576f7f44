/**
 * Coercion and validation of one customer-data value against its field definition (DESIGN 3.2).
 * A hot path: plain synchronous functions over plain data. Error messages never echo the value,
 * which may be PII; they name only the expectation and the definition's own bounds.
 */
import type { FieldDefinition, ValidationMode, ValueType } from "../../schemas"
import { canonicalJson } from "./hash"

export type ValidationErrorType =
  | "type"
  | "regex"
  | "allowed_values"
  | "min"
  | "max"
  | "min_length"
  | "max_length"

export type CoercionResult =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: string; readonly errorType: ValidationErrorType }

export type ModeResult =
  | { readonly kind: "valid"; readonly value: unknown }
  | { readonly kind: "rejected"; readonly error: string; readonly errorType: ValidationErrorType }
  | {
      readonly kind: "warned"
      readonly value: unknown
      readonly error: string
      readonly errorType: ValidationErrorType
    }

type Failure = Extract<CoercionResult, { ok: false }>
type Coercer = (raw: unknown, def: FieldDefinition) => CoercionResult

const ok = (value: unknown): CoercionResult => ({ ok: true, value })
const fail = (errorType: ValidationErrorType, error: string): Failure => ({ ok: false, error, errorType })

// Failures without parameters are shared, so rejecting a value allocates nothing.
const expected = (what: string): Failure => fail("type", `expected ${what}`)
const NOT_STRING = expected("string")
const NOT_INTEGER = expected("integer")
const NOT_NUMBER = expected("number")
const NOT_BOOLEAN = expected("boolean")
const NOT_DATE = expected("date (YYYY-MM-DD)")
const NOT_DATETIME = expected("datetime (ISO 8601 with zone offset or Z)")
const NOT_EMAIL = expected("email")
const NOT_PHONE = expected("phone number (E.164)")
const NOT_URL = expected("absolute http(s) URL")
const NOT_ENUM = expected("enum value (string)")
const NOT_JSON = expected("JSON value")
const NOT_ALLOWED = fail("allowed_values", "not one of the allowed values")
const NO_MATCH = fail("regex", "does not match pattern")
const BAD_PATTERN = fail("regex", "pattern in the field definition is not a valid regular expression")

const INTEGER_STRING = /^[+-]?\d+$/
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:Z|([+-])(\d{2}):(\d{2}))$/
const WHITESPACE = /\s/
const PHONE_SEPARATORS = /[\s().-]/g
const E164 = /^\+[1-9]\d{6,14}$/

const isLeapYear = (year: number): boolean => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
const daysInMonth = (year: number, month: number): number =>
  month === 2
    ? isLeapYear(year)
      ? 29
      : 28
    : month === 4 || month === 6 || month === 9 || month === 11
      ? 30
      : 31
const isCalendarDate = (year: number, month: number, day: number): boolean =>
  month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month)

/** Finite numbers, strings, booleans, null, arrays without holes and plain objects, without cycles. */
const isJsonValue = (value: unknown, ancestors: Set<object>): boolean => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true
    case "number":
      return Number.isFinite(value)
    case "object": {
      if (value === null) return true
      if (ancestors.has(value)) return false
      ancestors.add(value)
      let valid = true
      if (Array.isArray(value)) {
        for (let i = 0; valid && i < value.length; i++) valid = i in value && isJsonValue(value[i], ancestors)
      } else {
        const proto = Object.getPrototypeOf(value)
        // Dates, Maps, class instances and symbol keys do not survive JSON.stringify/parse unchanged.
        valid =
          (proto === Object.prototype || proto === null) && Object.getOwnPropertySymbols(value).length === 0
        const record = value as Record<string, unknown>
        for (const key in record) {
          if (!valid) break
          valid = isJsonValue(record[key], ancestors)
        }
      }
      ancestors.delete(value)
      return valid
    }
    default:
      return false
  }
}

const coercers: { readonly [K in ValueType]: Coercer } = {
  string: (raw) =>
    typeof raw === "string"
      ? ok(raw)
      : (typeof raw === "number" && Number.isFinite(raw)) || typeof raw === "boolean"
        ? ok(String(raw))
        : NOT_STRING,
  integer: (raw) => {
    const n =
      typeof raw === "number" ? raw : typeof raw === "string" && INTEGER_STRING.test(raw) ? Number(raw) : NaN
    // `+ 0` turns -0 into 0, so the value and its string form agree.
    return Number.isInteger(n) ? ok(n + 0) : NOT_INTEGER
  },
  number: (raw) => {
    const n = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN
    return Number.isFinite(n) ? ok(n + 0) : NOT_NUMBER
  },
  boolean: (raw) => {
    if (typeof raw === "boolean") return ok(raw)
    if (raw === 1 || raw === 0) return ok(raw === 1)
    if (typeof raw !== "string") return NOT_BOOLEAN
    const s = raw.trim().toLowerCase()
    if (s === "true" || s === "yes" || s === "1") return ok(true)
    if (s === "false" || s === "no" || s === "0") return ok(false)
    return NOT_BOOLEAN
  },
  date: (raw) => {
    const m = typeof raw === "string" ? DATE.exec(raw) : null
    return m !== null && isCalendarDate(Number(m[1]), Number(m[2]), Number(m[3])) ? ok(raw) : NOT_DATE
  },
  datetime: (raw) => {
    const m = typeof raw === "string" ? DATETIME.exec(raw) : null
    if (m === null) return NOT_DATETIME
    const [, y, mo, d, h, mi, s = "0", fraction = "", sign, oh = "0", om = "0"] = m
    const year = Number(y)
    const month = Number(mo)
    const day = Number(d)
    const hour = Number(h)
    const minute = Number(mi)
    const second = Number(s)
    const offsetMinutes = (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om))
    if (!isCalendarDate(year, month, day) || hour > 23 || minute > 59 || second > 59) return NOT_DATETIME
    if (Number(oh) > 23 || Number(om) > 59) return NOT_DATETIME
    // Computed by hand rather than with Date.parse: years 0-99 and fraction digits are handled
    // explicitly (fractions truncated to milliseconds, as V8 does), not by engine-specific parsing.
    const date = new Date(0)
    date.setUTCFullYear(year, month - 1, day)
    date.setUTCHours(hour, minute - offsetMinutes, second, Number(fraction.slice(0, 3).padEnd(3, "0")))
    // An offset can push year 0000 or 9999 outside the four-digit form that we accept back.
    const utcYear = date.getUTCFullYear()
    return utcYear >= 0 && utcYear <= 9999 ? ok(date.toISOString()) : NOT_DATETIME
  },
  email: (raw) => {
    if (typeof raw !== "string") return NOT_EMAIL
    const s = raw.trim()
    const at = s.indexOf("@")
    if (at <= 0 || s.indexOf("@", at + 1) !== -1 || WHITESPACE.test(s)) return NOT_EMAIL
    const domain = s.slice(at + 1)
    // At least two labels, none of them empty.
    const dotted =
      domain.includes(".") && !domain.startsWith(".") && !domain.endsWith(".") && !domain.includes("..")
    return dotted ? ok(s.toLowerCase()) : NOT_EMAIL
  },
  phone: (raw) => {
    if (typeof raw !== "string") return NOT_PHONE
    const s = raw.replace(PHONE_SEPARATORS, "")
    return E164.test(s) ? ok(s) : NOT_PHONE
  },
  url: (raw) => {
    if (typeof raw !== "string") return NOT_URL
    try {
      const url = new URL(raw)
      return url.protocol === "http:" || url.protocol === "https:" ? ok(url.href) : NOT_URL
    } catch {
      return NOT_URL
    }
  },
  enum: (raw, def) => {
    if (typeof raw !== "string") return NOT_ENUM
    return def.validation?.allowed_values?.includes(raw) === true ? ok(raw) : NOT_ALLOWED
  },
  json: (raw) => (isJsonValue(raw, new Set()) ? ok(raw) : NOT_JSON)
}

// Keyed by pattern, not by definition: definitions are re-decoded on reload, patterns repeat.
// `null` remembers a pattern that does not compile. Bounded because patterns come from tenants.
const MAX_CACHED_PATTERNS = 4096
const compiled = new Map<string, RegExp | null>()

const compilePattern = (pattern: string): RegExp | null => {
  let regex = compiled.get(pattern)
  if (regex === undefined) {
    try {
      regex = new RegExp(`^(?:${pattern})$`)
    } catch {
      regex = null
    }
    if (compiled.size >= MAX_CACHED_PATTERNS) compiled.clear()
    compiled.set(pattern, regex)
  }
  return regex
}

const stringForm = (value: unknown): string =>
  typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value)

const isAllowed = (allowed: ReadonlyArray<unknown>, value: unknown): boolean => {
  if (allowed.includes(value)) return true
  if (value === null || typeof value !== "object") return false
  const form = canonicalJson(value)
  return allowed.some(
    (candidate) => typeof candidate === "object" && candidate !== null && canonicalJson(candidate) === form
  )
}

/** Length in Unicode code points, as JSON Schema's minLength/maxLength count it. */
const codePointLength = (s: string): number => {
  let length = s.length
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        length--
        i++
      }
    }
  }
  return length
}

/** Strict coercion by value_type then constraint checks (DESIGN 3.2). */
export const validateValue = (def: FieldDefinition, raw: unknown): CoercionResult => {
  const coerced = coercers[def.value_type](raw, def)
  const rules = def.validation
  if (!coerced.ok || rules === undefined) return coerced
  const value = coerced.value
  if (rules.regex !== undefined) {
    const regex = compilePattern(rules.regex)
    if (regex === null) return BAD_PATTERN
    if (!regex.test(stringForm(value))) return NO_MATCH
  }
  if (rules.allowed_values !== undefined && !isAllowed(rules.allowed_values, value)) return NOT_ALLOWED
  if (typeof value === "number") {
    if (rules.min !== undefined && value < rules.min) return fail("min", `below minimum ${rules.min}`)
    if (rules.max !== undefined && value > rules.max) return fail("max", `above maximum ${rules.max}`)
  }
  if (typeof value === "string" && (rules.min_length !== undefined || rules.max_length !== undefined)) {
    const length = codePointLength(value)
    if (rules.min_length !== undefined && length < rules.min_length) {
      return fail("min_length", `shorter than ${rules.min_length} characters`)
    }
    if (rules.max_length !== undefined && length > rules.max_length) {
      return fail("max_length", `longer than ${rules.max_length} characters`)
    }
  }
  return coerced
}

/**
 * Applies the effective mode (the caller resolves `def.validation_mode ?? global default`):
 * strict rejects an invalid value; warn applies the RAW value but reports the error;
 * disabled applies the raw value with no checks.
 */
export const checkValue = (def: FieldDefinition, raw: unknown, mode: ValidationMode): ModeResult => {
  if (mode === "disabled") return { kind: "valid", value: raw }
  const result = validateValue(def, raw)
  if (result.ok) return { kind: "valid", value: result.value }
  return mode === "warn"
    ? { kind: "warned", value: raw, error: result.error, errorType: result.errorType }
    : { kind: "rejected", error: result.error, errorType: result.errorType }
}
