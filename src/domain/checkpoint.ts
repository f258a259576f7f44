/**
 * Signed audit checkpoints (DESIGN 8b, decision 0018): every so often turnvault reads where each
 * session's turn-record chain and history ledger end (a ChainHead), builds an RFC 6962 Merkle
 * tree over those heads, and signs the root, the count and the previous checkpoint's hash with an
 * Ed25519 key. A checkpoint published outside the database is a witness: a rewrite of anything
 * it covers, however consistent (every later hash recomputed), changes a head it vouches for, and
 * a truncated chain lacks the entry a head names. Plain functions; node's crypto does the maths.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify
} from "node:crypto"
import type { AuditCheckpoint, ChainHead, CheckpointBody, ReceiptsHead, TurnProof } from "../../schemas/Audit"
import type { TurnRecord } from "../../schemas"
import { type ErasureReceipt, receiptHash } from "./erasure"
import { canonicalJson, hashCanonical } from "./hash"
import { inclusionPath, leafHash, merkleRoot, verifyInclusion } from "./merkle"
import type { SessionHistoryEntry } from "./model"
import { recordHash } from "./turnRecord"

export type { AuditCheckpoint, ChainHead, CheckpointBody, ReceiptsHead, TurnProof }

/** A leaf: a session's chain head, or a tenant's erasure receipts head. */
export type Head = ChainHead | ReceiptsHead

export const isReceiptsHead = (head: Head): head is ReceiptsHead => "kind" in head && head.kind === "erasures"

/** A checkpoint as the store keeps it: the signed body and the heads its root is built from. */
export interface StoredCheckpoint extends AuditCheckpoint {
  readonly heads: ReadonlyArray<Head>
}

export class CheckpointKeyError extends Error {}

/** A key given as PEM text, or as the base64 of its DER encoding (an environment variable's one line). */
const keyInput = <T extends "pkcs8" | "spki">(text: string, type: T) => {
  const trimmed = text.trim()
  return trimmed.startsWith("-----BEGIN")
    ? { key: trimmed, format: "pem" as const }
    : { key: Buffer.from(trimmed, "base64"), format: "der" as const, type }
}

const ed25519 = (key: KeyObject, what: string) => {
  if (key.asymmetricKeyType !== "ed25519")
    throw new CheckpointKeyError(`${what} is a ${key.asymmetricKeyType ?? "secret"} key, not Ed25519`)
  return key
}

const parse = <A>(what: string, read: () => A): A => {
  try {
    return read()
  } catch (error) {
    if (error instanceof CheckpointKeyError) throw error
    throw new CheckpointKeyError(`${what} is not a readable key (PEM, or base64 DER): ${String(error)}`)
  }
}

export const publicKeyOf = (text: string): KeyObject =>
  parse("the public key", () => ed25519(createPublicKey(keyInput(text, "spki")), "the public key"))

/** The first 16 hex digits of SHA-256 over the public key's SPKI DER: names the key in each body. */
export const keyIdOf = (publicKey: KeyObject): string =>
  createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("hex")
    .slice(0, 16)

export interface CheckpointSigner {
  readonly keyId: string
  readonly publicKey: KeyObject
  readonly sign: (body: CheckpointBody) => string
}

export const signerOf = (privateKeyText: string): CheckpointSigner => {
  const privateKey = parse("TURNVAULT_CHECKPOINT_KEY", () =>
    ed25519(createPrivateKey(keyInput(privateKeyText, "pkcs8")), "TURNVAULT_CHECKPOINT_KEY")
  )
  const publicKey = createPublicKey(privateKey)
  return {
    keyId: keyIdOf(publicKey),
    publicKey,
    sign: (body) => sign(null, Buffer.from(canonicalJson(body)), privateKey).toString("base64")
  }
}

/** A fresh key pair, as `turnvault checkpoints keygen` prints it: PEM, and one-line base64 DER. */
export const newKeyPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519")
  return {
    key_id: keyIdOf(publicKey),
    private_key: privateKey.export({ type: "pkcs8", format: "der" }).toString("base64"),
    public_key: publicKey.export({ type: "spki", format: "der" }).toString("base64"),
    public_key_pem: publicKey.export({ type: "spki", format: "pem" }).toString()
  }
}

export const signatureValid = (checkpoint: AuditCheckpoint, publicKey: KeyObject): boolean => {
  try {
    return verify(
      null,
      Buffer.from(canonicalJson(checkpoint.body)),
      publicKey,
      Buffer.from(checkpoint.signature, "base64")
    )
  } catch {
    return false
  }
}

/** SHA-256 of the body's canonical JSON: what the next checkpoint names as `prev`. */
export const checkpointHash = (body: CheckpointBody): string => hashCanonical(body)

export const headLeaf = (head: Head): string => leafHash(canonicalJson(head))

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * The heads in leaf order: sessions' by tenant, then session; then tenants' receipt heads by
 * tenant; comparing code units (no locale).
 */
export const sortHeads = <H extends Head>(heads: ReadonlyArray<H>): Array<H> =>
  [...heads].sort((a, b) => {
    if (isReceiptsHead(a) !== isReceiptsHead(b)) return isReceiptsHead(a) ? 1 : -1
    return byCodeUnits(headKey(a), headKey(b))
  })

const headKey = (head: Head) =>
  isReceiptsHead(head) ? `erasures\u0000${head.tenant_id}` : `${head.tenant_id}\u0000${head.session_id}`

const sameHead = (a: Head, b: Head) => canonicalJson(a) === canonicalJson(b)

/**
 * The heads a new checkpoint covers: those read, less the ones the previous checkpoint already
 * vouches for unchanged (the reads overlap, so a quiet session is not checkpointed again and again).
 */
export const newHeads = (read: ReadonlyArray<Head>, previous: StoredCheckpoint | null): Array<Head> => {
  if (previous === null) return sortHeads(read)
  const before = new Map(previous.heads.map((head) => [headKey(head), head]))
  return sortHeads(
    read.filter((head) => {
      const old = before.get(headKey(head))
      return old === undefined || !sameHead(old, head)
    })
  )
}

export const buildCheckpoint = (
  input: {
    readonly previous: StoredCheckpoint | null
    readonly since: string | null
    readonly cut: string
    readonly createdAt: string
    readonly heads: ReadonlyArray<Head>
  },
  signer: CheckpointSigner
): StoredCheckpoint => {
  const heads = sortHeads(input.heads)
  const body: CheckpointBody = {
    version: 1,
    seq: (input.previous?.body.seq ?? 0) + 1,
    prev: input.previous === null ? null : checkpointHash(input.previous.body),
    since: input.since,
    cut: input.cut,
    created_at: input.createdAt,
    leaves: heads.length,
    root: merkleRoot(heads.map(headLeaf)),
    key_id: signer.keyId
  }
  return { body, signature: signer.sign(body), heads }
}

/** A session's chains as the store holds them now, in order. */
export interface StoredChains {
  readonly records: ReadonlyArray<TurnRecord>
  readonly entries: ReadonlyArray<SessionHistoryEntry>
}

export interface CheckpointProblem {
  readonly seq: number
  readonly tenant_id?: string
  readonly session_id?: string
  readonly problem: string
}

const short = (hash: string | null | undefined) => (hash == null ? "none" : hash.slice(0, 12))

/** What a head says against the chains held now: a consistent rewrite or a cut shows here. */
const headProblems = (head: ChainHead, chains: StoredChains): Array<string> => {
  const problems: Array<string> = []
  const record = chains.records[head.records - 1]
  if (chains.records.length < head.records)
    problems.push(
      `the checkpoint saw ${head.records} turn records, the store holds ${chains.records.length}: records were deleted`
    )
  else if (head.records > 0 && (record === undefined || recordHash(record) !== head.record_head))
    problems.push(
      `turn record ${head.records} (turn ${record?.turn_id}) hashes to ${short(record === undefined ? null : recordHash(record))}, the checkpoint saw ${short(head.record_head)}: it or a record before it was rewritten`
    )
  const entry = chains.entries[head.entries - 1]
  if (chains.entries.length < head.entries)
    problems.push(
      `the checkpoint saw ${head.entries} ledger entries, the store holds ${chains.entries.length}: entries were deleted`
    )
  else if (head.entries > 0 && entry?.seq !== head.entries)
    problems.push(`ledger entry ${head.entries} is seq ${entry?.seq}: entries were inserted or removed`)
  else if (head.entry_head !== null && entry?.entry_hash !== head.entry_head)
    problems.push(
      `ledger entry ${head.entries} is ${short(entry?.entry_hash)}, the checkpoint saw ${short(head.entry_head)}: it or an entry before it was rewritten`
    )
  return problems
}

/** What a tenant's receipts head says against the receipts held now. */
const receiptsHeadProblem = (head: ReceiptsHead, receipts: ReadonlyArray<ErasureReceipt>): string | null => {
  if (receipts.length < head.receipts)
    return `the checkpoint saw ${head.receipts} erasure receipts, the store holds ${receipts.length}: receipts were deleted`
  const receipt = receipts[head.receipts - 1]!
  if (receipt.seq !== head.receipts || receiptHash(receipt) !== head.receipt_head)
    return `erasure receipt ${head.receipts} hashes to ${short(receiptHash(receipt))}, the checkpoint saw ${short(head.receipt_head)}: it or a receipt before it was rewritten`
  return null
}

const sameCheckpoint = (a: AuditCheckpoint, b: AuditCheckpoint) =>
  a.signature === b.signature && canonicalJson(a.body) === canonicalJson(b.body)

/**
 * Everything that does not hold among the stored checkpoints, the witnessed ones (as published;
 * null when no witness is reachable) and the chains stored now. The witness is what makes a
 * deletion of the newest checkpoints from the store visible: each must be in the store unchanged.
 */
export const checkCheckpoints = (input: {
  readonly stored: ReadonlyArray<StoredCheckpoint>
  readonly witnessed: ReadonlyArray<AuditCheckpoint> | null
  readonly publicKey: KeyObject
  /** Null for a session not examined (verify of one tenant or session): its heads are not checked. */
  readonly chainsOf: (tenantId: string, sessionId: string) => StoredChains | null
  /** A tenant's erasure receipts, in seq order; null when not examined. */
  readonly receiptsOf?: (tenantId: string) => ReadonlyArray<ErasureReceipt> | null
}): { readonly problems: Array<CheckpointProblem>; readonly unwitnessed: Array<number> } => {
  const problems: Array<CheckpointProblem> = []
  const keyId = keyIdOf(input.publicKey)
  let previous: StoredCheckpoint | null = null
  for (const checkpoint of input.stored) {
    const { seq } = checkpoint.body
    const report = (problem: string) => problems.push({ seq, problem })
    if (seq !== (previous?.body.seq ?? 0) + 1)
      report(
        `checkpoint ${seq} follows ${previous?.body.seq ?? "nothing"}: checkpoint ${(previous?.body.seq ?? 0) + 1} was deleted`
      )
    if (!signatureValid(checkpoint, input.publicKey))
      report(
        `checkpoint ${seq}: the signature does not verify with key ${keyId}${checkpoint.body.key_id === keyId ? "" : ` (the body names key ${checkpoint.body.key_id})`}: the checkpoint was forged or changed`
      )
    if (previous !== null && checkpoint.body.prev !== checkpointHash(previous.body))
      report(
        `checkpoint ${seq}: prev does not name checkpoint ${previous.body.seq}'s hash: the sequence was rewritten`
      )
    const root = merkleRoot(checkpoint.heads.map(headLeaf))
    if (root !== checkpoint.body.root || checkpoint.heads.length !== checkpoint.body.leaves)
      report(`checkpoint ${seq}: its stored heads do not build the signed root: they were changed`)
    for (const head of checkpoint.heads) {
      if (isReceiptsHead(head)) {
        const receipts = input.receiptsOf?.(head.tenant_id) ?? null
        if (receipts === null) continue
        const problem = receiptsHeadProblem(head, receipts)
        if (problem !== null) problems.push({ seq, tenant_id: head.tenant_id, problem })
        continue
      }
      const chains = input.chainsOf(head.tenant_id, head.session_id)
      if (chains === null) continue
      for (const problem of headProblems(head, chains))
        problems.push({ seq, tenant_id: head.tenant_id, session_id: head.session_id, problem })
    }
    previous = checkpoint
  }
  const bySeq = new Map(input.stored.map((c) => [c.body.seq, c]))
  const witnessedSeqs = new Set<number>()
  for (const published of input.witnessed ?? []) {
    const { seq } = published.body
    witnessedSeqs.add(seq)
    const stored = bySeq.get(seq)
    if (stored === undefined)
      problems.push({
        seq,
        problem: `checkpoint ${seq} was published but is not in the store: it was deleted`
      })
    else if (!sameCheckpoint(stored, published))
      problems.push({ seq, problem: `checkpoint ${seq} in the store differs from the one published` })
  }
  const unwitnessed =
    input.witnessed === null ? [] : input.stored.map((c) => c.body.seq).filter((s) => !witnessedSeqs.has(s))
  return { problems, unwitnessed }
}

/**
 * The proof that `record` is in the chain a checkpoint vouches for: the session's records from it
 * to the checkpointed head, the head, and the head's audit path. Null when no checkpoint covers the
 * record yet, or when the chain no longer ends at the head a checkpoint saw.
 */
export const buildProof = (
  record: TurnRecord,
  chain: ReadonlyArray<TurnRecord>,
  checkpoints: ReadonlyArray<StoredCheckpoint>
): TurnProof | null => {
  const position = chain.findIndex((r) => r.turn_id === record.turn_id)
  if (position < 0) return null
  for (const checkpoint of checkpoints) {
    const index = checkpoint.heads.findIndex(
      (head) =>
        !isReceiptsHead(head) &&
        head.tenant_id === record.tenant_id &&
        head.session_id === record.session_id &&
        head.records > position
    )
    if (index < 0) continue
    const head = checkpoint.heads[index] as ChainHead
    const records = chain.slice(position, head.records)
    if (records.at(-1)?.hash !== head.record_head) continue
    return {
      version: 1,
      tenant_id: record.tenant_id,
      turn_id: record.turn_id,
      records,
      head,
      leaf_index: index,
      path: inclusionPath(checkpoint.heads.map(headLeaf), index),
      checkpoint: { body: checkpoint.body, signature: checkpoint.signature }
    }
  }
  return null
}

/** What is wrong with a proof, checked with the public key alone; empty when it holds. */
export const proofProblems = (proof: TurnProof, publicKey: KeyObject): Array<string> => {
  const problems: Array<string> = []
  if (!signatureValid(proof.checkpoint, publicKey))
    problems.push(`the checkpoint's signature does not verify with key ${keyIdOf(publicKey)}`)
  const first = proof.records[0]
  if (first === undefined) return [...problems, "the proof holds no record"]
  if (first.turn_id !== proof.turn_id || first.tenant_id !== proof.tenant_id)
    problems.push(`the first record is turn ${first.turn_id} of ${first.tenant_id}, not the one proved`)
  proof.records.forEach((record, i) => {
    if (recordHash(record) !== record.hash)
      problems.push(`record ${record.turn_id} does not hash to its hash: it was changed`)
    if (record.tenant_id !== proof.head.tenant_id || record.session_id !== proof.head.session_id)
      problems.push(`record ${record.turn_id} is not of the head's session`)
    const before = proof.records[i - 1]
    if (before !== undefined && record.prev_hash !== before.hash)
      problems.push(`record ${record.turn_id} does not chain to ${before.turn_id}`)
  })
  if (proof.records.at(-1)!.hash !== proof.head.record_head)
    problems.push("the last record is not the checkpointed head")
  const body = proof.checkpoint.body
  if (!verifyInclusion(headLeaf(proof.head), proof.leaf_index, body.leaves, proof.path, body.root))
    problems.push(`the head is not leaf ${proof.leaf_index} of checkpoint ${body.seq}'s Merkle root`)
  return problems
}
