/**
 * Tenant API keys (issue 14): `tvk_<tenant>.<key id>.<secret>`, the tenant base64url-encoded, so
 * a key names its one tenant and the store looks it up by (tenant, key id) like every other row.
 * Only an scrypt hash of the secret is stored; the key is shown once, when it is made.
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto"

export type KeyScope = "read" | "admin"
export const KEY_SCOPES: ReadonlyArray<KeyScope> = ["read", "admin"]
export const isKeyScope = (s: string | undefined): s is KeyScope => s === "read" || s === "admin"

const PREFIX = "tvk_"

export interface ParsedKey {
  readonly tenant_id: string
  readonly key_id: string
  readonly secret: string
}

/** A new key for `tenantId`: its id, its secret and the token handed to the tenant. */
export const newKey = (tenantId: string): ParsedKey & { readonly token: string } => {
  const key_id = randomBytes(8).toString("hex")
  const secret = randomBytes(32).toString("base64url")
  const tenant = Buffer.from(tenantId, "utf8").toString("base64url")
  return { tenant_id: tenantId, key_id, secret, token: `${PREFIX}${tenant}.${key_id}.${secret}` }
}

/** The parts of a token, or null when it is not one of ours. */
export const parseKey = (token: string): ParsedKey | null => {
  if (!token.startsWith(PREFIX)) return null
  const parts = token.slice(PREFIX.length).split(".")
  if (parts.length !== 3) return null
  const [tenant, key_id, secret] = parts as [string, string, string]
  if (!/^[0-9a-f]{16}$/.test(key_id) || !/^[A-Za-z0-9_-]{43}$/.test(secret)) return null
  const tenant_id = Buffer.from(tenant, "base64url").toString("utf8")
  // base64url decoding is lenient: only the canonical encoding names the tenant
  if (tenant_id.length === 0 || Buffer.from(tenant_id, "utf8").toString("base64url") !== tenant) return null
  return { tenant_id, key_id, secret }
}

/** scrypt's cost: N = 2^14, r = 8, p = 1 (node's defaults), a 32-byte hash. */
const HASH_BYTES = 32

const scryptHex = (secret: string, salt: string) =>
  new Promise<string>((resolve, reject) =>
    scrypt(secret, Buffer.from(salt, "hex"), HASH_BYTES, (error, hash) =>
      error === null ? resolve(hash.toString("hex")) : reject(error)
    )
  )

/** A fresh salt and the scrypt hash of `secret` under it (hex). */
export const hashSecret = async (
  secret: string
): Promise<{ readonly salt: string; readonly hash: string }> => {
  const salt = randomBytes(16).toString("hex")
  return { salt, hash: await scryptHex(secret, salt) }
}

/** Whether `secret` hashes to `hash` under `salt`, compared in constant time. */
export const secretMatches = async (secret: string, salt: string, hash: string): Promise<boolean> => {
  const expected = Buffer.from(hash, "hex")
  const actual = Buffer.from(await scryptHex(secret, salt), "hex")
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}
