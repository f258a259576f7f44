/** Canonical JSON (sorted keys, no whitespace, `undefined` dropped) and SHA-256 over it. */
import { createHash } from "node:crypto"

export const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== "object") {
    return value === undefined ? "null" : JSON.stringify(value)
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => (item === undefined ? "null" : canonicalJson(item))).join(",")}]`
  }
  const keys = Object.keys(value).sort()
  const parts: Array<string> = []
  for (const key of keys) {
    const item = (value as Record<string, unknown>)[key]
    if (item !== undefined) parts.push(`${JSON.stringify(key)}:${canonicalJson(item)}`)
  }
  return `{${parts.join(",")}}`
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
