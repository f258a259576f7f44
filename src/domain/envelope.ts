/**
 * Sealed values (DESIGN 8b, decision 0019): a PII value at rest is AES-256-GCM ciphertext under
 * its customer's data key, and the data keys are themselves sealed under the key-encryption key of
 * the configuration. Destroying a customer's data key leaves ciphertext nobody can open: erasure
 * by crypto-shredding. Node's crypto does the maths; these are plain functions over keys.
 */
import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  type KeyObject,
  randomBytes,
  randomFillSync
} from "node:crypto"

const ALGORITHM = "aes-256-gcm"
const IV_BYTES = 12
const TAG_BYTES = 16
export const KEY_BYTES = 32

/** How a sealed value is stored in place of the value (a JSON object no field value takes). */
export interface SealedValue {
  readonly $sealed: "v1"
  /** The customer's data key version that sealed it. */
  readonly k: number
  /** base64 of iv ‖ tag ‖ ciphertext of the value's JSON. */
  readonly d: string
}

export const isSealed = (value: unknown): value is SealedValue =>
  typeof value === "object" &&
  value !== null &&
  (value as { $sealed?: unknown }).$sealed === "v1" &&
  typeof (value as { k?: unknown }).k === "number" &&
  typeof (value as { d?: unknown }).d === "string"

/**
 * A key as the cipher takes it. Made once per key: given raw bytes, node makes a key object on
 * every cipher (a third of the sealing time, measured).
 */
export type SecretKey = KeyObject
export const secretKey = (bytes: Buffer): SecretKey => createSecretKey(bytes)

/** Random IVs drawn from a pool filled 4,096 at a time (one system call, not one per value). */
const ivPool = Buffer.alloc(IV_BYTES * 4096)
let ivNext = ivPool.length
const freshIv = (): Buffer => {
  if (ivNext === ivPool.length) {
    randomFillSync(ivPool)
    ivNext = 0
  }
  const iv = Buffer.from(ivPool.subarray(ivNext, ivNext + IV_BYTES))
  ivNext += IV_BYTES
  return iv
}

const seal = (key: SecretKey | Buffer, plaintext: Buffer, aad: string): Buffer => {
  const iv = freshIv()
  const cipher = createCipheriv(ALGORITHM, key, iv)
  cipher.setAAD(Buffer.from(aad))
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), body])
}

/** The plaintext, or null when the key or the binding (`aad`) is not the one that sealed it. */
const open = (key: SecretKey | Buffer, sealed: Buffer, aad: string): Buffer | null => {
  try {
    const decipher = createDecipheriv(ALGORITHM, key, sealed.subarray(0, IV_BYTES))
    decipher.setAAD(Buffer.from(aad))
    decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()])
  } catch {
    return null
  }
}

/**
 * What a sealed value is bound to: its tenant, customer and field. A ciphertext copied onto
 * another customer's or field's row does not open there.
 */
export const valueBinding = (tenantId: string, customerId: string, name: string) =>
  JSON.stringify(["value", tenantId, customerId, name])

/** What a memory-ingestion task's sealed texts are bound to: its tenant, customer and turn. */
export const textsBinding = (tenantId: string, customerId: string, turnId: string) =>
  JSON.stringify(["texts", tenantId, customerId, turnId])

/** What a session's sealed summary is bound to: its tenant, customer and session. */
export const summaryBinding = (tenantId: string, customerId: string, sessionId: string) =>
  JSON.stringify(["summary", tenantId, customerId, sessionId])

/**
 * A text column's sealed form: this prefix (a control character no model or person writes first),
 * the key version, and base64 of iv ‖ tag ‖ ciphertext.
 */
const SEALED_TEXT = "\u0001sealed:v1:"

export const sealText = (key: SecretKey, version: number, binding: string, text: string): string =>
  `${SEALED_TEXT}${version}:${seal(key, Buffer.from(text), binding).toString("base64")}`

/** The key version of a sealed text, or null for a text in the clear. */
export const sealedTextVersion = (text: string): number | null => {
  if (!text.startsWith(SEALED_TEXT)) return null
  const version = Number(text.slice(SEALED_TEXT.length, text.indexOf(":", SEALED_TEXT.length)))
  return Number.isSafeInteger(version) ? version : null
}

/** The text, or undefined when it cannot be opened. */
export const openText = (key: SecretKey, binding: string, text: string): string | undefined => {
  const body = text.slice(text.indexOf(":", SEALED_TEXT.length) + 1)
  const plaintext = open(key, Buffer.from(body, "base64"), binding)
  return plaintext === null ? undefined : plaintext.toString("utf8")
}

export const sealValue = (key: SecretKey, version: number, binding: string, value: unknown): SealedValue => ({
  $sealed: "v1",
  k: version,
  d: seal(key, Buffer.from(JSON.stringify(value)), binding).toString("base64")
})

/** The value, or undefined when it cannot be opened (its key destroyed, or another binding). */
export const openValue = (key: SecretKey, binding: string, sealed: SealedValue): unknown => {
  const plaintext = open(key, Buffer.from(sealed.d, "base64"), binding)
  return plaintext === null ? undefined : (JSON.parse(plaintext.toString("utf8")) as unknown)
}

export const newDataKey = (): Buffer => randomBytes(KEY_BYTES)

/**
 * What a wrapped data key is bound to: its tenant and customer (not its version, which the store
 * numbers as it inserts), so a wrapped key moved to another customer's row does not unwrap.
 */
const keyBinding = (tenantId: string, customerId: string) =>
  JSON.stringify(["data-key", tenantId, customerId])

/** A customer's data key sealed under the key-encryption key, as the key store keeps it. */
export const wrapKey = (kek: SecretKey, tenantId: string, customerId: string, key: Buffer) =>
  seal(kek, key, keyBinding(tenantId, customerId))

export const unwrapKey = (kek: SecretKey, tenantId: string, customerId: string, wrapped: Buffer) =>
  open(kek, wrapped, keyBinding(tenantId, customerId))

export class KekError extends Error {}

/** TURNVAULT_KEK: 32 bytes, base64 (`openssl rand -base64 32`). */
export const parseKek = (text: string): SecretKey => {
  const key = Buffer.from(text.trim(), "base64")
  if (key.length !== KEY_BYTES)
    throw new KekError(
      `TURNVAULT_KEK must be ${KEY_BYTES} bytes in base64 (openssl rand -base64 32), got ${key.length}`
    )
  return secretKey(key)
}
