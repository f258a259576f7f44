/** Canonical JSON (sorted keys, no whitespace, `undefined` dropped) and SHA-256 over it. */
import { createHash } from "node:crypto"

export const canonicalJson = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value)
    case "number":
      return Number.isFinite(value) ? String(value) : "null"
    case "boolean":
      return value ? "true" : "false"
    case "object": {
      if (value === null) return "null"
      // Hot path (every turn hashes its record and its session state): plain string building.
      if (Array.isArray(value)) {
        let out = "["
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ","
          out += canonicalJson(value[i])
        }
        return out + "]"
      }
      const keys = Object.keys(value)
      // Objects whose keys are already in order skip the sort (a quarter of the hashing time).
      for (let i = 1; i < keys.length; i++) {
        if (keys[i - 1]! > keys[i]!) {
          keys.sort()
          break
        }
      }
      let out = "{"
      let first = true
      for (const key of keys) {
        const item = (value as Record<string, unknown>)[key]
        if (item === undefined) continue
        out += (first ? "" : ",") + JSON.stringify(key) + ":" + canonicalJson(item)
        first = false
      }
      return out + "}"
    }
    default:
      // undefined (in an array), functions, symbols: JSON's null
      return "null"
  }
}

export const sha256Hex = (text: string): string => createHash("sha256").update(text).digest("hex")

export const hashCanonical = (value: unknown): string => sha256Hex(canonicalJson(value))

/** A copy with object keys in sorted order at every depth (stable output whatever the store did). */
export const sortKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value === null || typeof value !== "object") return value
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key])
  return out
}
