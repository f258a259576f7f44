import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { deepEqual } from "../../src/domain/deepEqual"
import { canonicalJson, hashCanonical, sha256Hex } from "../../src/domain/hash"

/** Rebuilds every object of a JSON value with its keys in reverse insertion order. */
const reverseKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(reverseKeys)
  if (value === null || typeof value !== "object") return value
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).reverse()) {
    Object.defineProperty(out, key, {
      value: reverseKeys((value as Record<string, unknown>)[key]),
      enumerable: true,
      writable: true,
      configurable: true
    })
  }
  return out
}

describe("canonicalJson", () => {
  it("sorts object keys, without whitespace", () => {
    expect(canonicalJson({ b: 1, a: "x", c: true })).toBe('{"a":"x","b":1,"c":true}')
  })

  it("sorts keys recursively, inside nested objects and arrays, and keeps array order", () => {
    expect(canonicalJson({ z: [{ y: 1, x: 2 }, 3], a: { d: { f: null, e: 1 }, c: [] } })).toBe(
      '{"a":{"c":[],"d":{"e":1,"f":null}},"z":[{"x":2,"y":1},3]}'
    )
  })

  it("drops undefined members of objects", () => {
    expect(canonicalJson({ a: undefined, b: 1, c: { d: undefined } })).toBe('{"b":1,"c":{}}')
  })

  it("writes undefined inside arrays and at the top as null, as JSON.stringify does", () => {
    expect(canonicalJson([1, undefined, 2])).toBe("[1,null,2]")
    expect(canonicalJson(undefined)).toBe("null")
  })

  it("serialises scalars as JSON does", () => {
    expect(canonicalJson('a"b\n')).toBe(JSON.stringify('a"b\n'))
    expect(canonicalJson(1.5)).toBe("1.5")
    expect(canonicalJson(null)).toBe("null")
    expect(canonicalJson(false)).toBe("false")
    expect(canonicalJson({ é: 1, "a b": 2 })).toBe('{"a b":2,"é":1}')
  })

  it("is stable across key order", () => {
    expect(canonicalJson({ a: 1, b: { c: 2, d: 3 } })).toBe(canonicalJson({ b: { d: 3, c: 2 }, a: 1 }))
    expect(hashCanonical({ a: 1, b: { c: 2, d: 3 } })).toBe(hashCanonical({ b: { d: 3, c: 2 }, a: 1 }))
  })

  it.prop("does not depend on key order for any JSON value", [fc.jsonValue()], ([value]) => {
    expect(canonicalJson(reverseKeys(value))).toBe(canonicalJson(value))
  })

  it.prop("parses back to an equal value", [fc.jsonValue()], ([value]) => {
    expect(deepEqual(JSON.parse(canonicalJson(value)), value)).toBe(true)
  })

  it.prop(
    "lists the keys of every object in sorted order",
    [fc.dictionary(fc.string(), fc.integer())],
    ([record]) => {
      // Not through JSON.parse: integer-like keys would come back in numeric order.
      const members = Object.keys(record)
        .sort()
        .map((key) => `${JSON.stringify(key)}:${record[key]}`)
      expect(canonicalJson(record)).toBe(`{${members.join(",")}}`)
    }
  )
})

describe("sha256", () => {
  it("sha256Hex is the hex SHA-256 of the UTF-8 text", () => {
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  })

  it("hashCanonical hashes the canonical JSON", () => {
    expect(hashCanonical({ b: 1, a: [2] })).toBe(sha256Hex('{"a":[2],"b":1}'))
  })

  it("different values hash differently", () => {
    expect(hashCanonical({ a: 1 })).not.toBe(hashCanonical({ a: "1" }))
    expect(hashCanonical([1, 2])).not.toBe(hashCanonical([2, 1]))
  })
})
