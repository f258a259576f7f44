/**
 * Wire contracts of the audit checkpoints (DESIGN 8b): the signed checkpoint turnvault publishes on
 * `turnvault.audit-checkpoints`, and the inclusion proof `turnvault prove` prints for a third
 * party, who checks it with the public key alone (`turnvault verify-proof`, or any Ed25519 and
 * SHA-256 implementation: docs/DESIGN.md 3.5 spells out the hashing).
 */
import { Schema } from "effect"
import { TurnRecord } from "./Outputs"

const Hex = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/)).annotations({
  description: "a SHA-256 digest, lowercase hex"
})

/** Where one session's two chains ended when a checkpoint was taken: one Merkle leaf. */
export const ChainHead = Schema.Struct({
  tenant_id: Schema.String,
  session_id: Schema.String,
  records: Schema.Number.annotations({ description: "how many turn records the session's chain held" }),
  record_head: Schema.NullOr(Hex).annotations({ description: "the hash of its last turn record" }),
  entries: Schema.Number.annotations({ description: "how many history ledger entries the session held" }),
  entry_head: Schema.NullOr(Hex).annotations({
    description: "the entry_hash of its last ledger entry (null for entries written before entry hashes)"
  })
}).annotations({ identifier: "ChainHead" })
export type ChainHead = typeof ChainHead.Type

/** Where one tenant's chain of erasure receipts ended when a checkpoint was taken: a leaf too. */
export const ReceiptsHead = Schema.Struct({
  kind: Schema.Literal("erasures"),
  tenant_id: Schema.String,
  receipts: Schema.Number.annotations({ description: "how many erasure receipts the tenant held" }),
  receipt_head: Hex.annotations({ description: "the hash of its last receipt" })
}).annotations({ identifier: "ReceiptsHead" })
export type ReceiptsHead = typeof ReceiptsHead.Type

/** What a checkpoint's signature covers (its canonical JSON: sorted keys, no whitespace). */
export const CheckpointBody = Schema.Struct({
  version: Schema.Literal(1),
  seq: Schema.Number.annotations({ description: "1, 2, 3, ...: a missing number is a deleted checkpoint" }),
  prev: Schema.NullOr(Hex).annotations({
    description: "SHA-256 of the previous checkpoint's body (canonical JSON); null for the first"
  }),
  since: Schema.NullOr(Schema.String).annotations({
    description: "the chains written at or after this instant are covered (null: since the beginning)"
  }),
  cut: Schema.String.annotations({ description: "the database's clock when the heads were read" }),
  created_at: Schema.String,
  leaves: Schema.Number.annotations({ description: "how many chain heads the Merkle tree holds" }),
  root: Hex.annotations({
    description:
      "RFC 6962 Merkle tree hash over the heads (sessions' chain heads sorted by (tenant_id, session_id), then tenants' receipt heads by tenant_id); leaf = SHA-256(0x00 || canonical JSON of the head)"
  }),
  key_id: Schema.String.annotations({
    description: "the first 16 hex digits of SHA-256 over the signing key's SPKI DER encoding"
  })
}).annotations({ identifier: "CheckpointBody" })
export type CheckpointBody = typeof CheckpointBody.Type

/** A message on `turnvault.audit-checkpoints`, keyed by seq. */
export const AuditCheckpoint = Schema.Struct({
  body: CheckpointBody,
  signature: Schema.String.annotations({
    description: "Ed25519 signature over the body's canonical JSON (UTF-8), base64"
  })
}).annotations({ identifier: "AuditCheckpoint", title: "turnvault signed audit checkpoint" })
export type AuditCheckpoint = typeof AuditCheckpoint.Type

/** `turnvault prove`'s answer: one turn record, the chain from it to a checkpointed head, the path to the root. */
export const TurnProof = Schema.Struct({
  version: Schema.Literal(1),
  tenant_id: Schema.String,
  turn_id: Schema.String,
  records: Schema.Array(TurnRecord).annotations({
    description:
      "the proved record first, then every later record of its session up to the checkpointed head; each hashes to its `hash` and names the one before as `prev_hash`"
  }),
  head: ChainHead,
  leaf_index: Schema.Number,
  path: Schema.Array(Hex).annotations({ description: "the RFC 6962 audit path, leaf level first" }),
  checkpoint: AuditCheckpoint
}).annotations({ identifier: "TurnProof", title: "turnvault turn inclusion proof" })
export type TurnProof = typeof TurnProof.Type

/**
 * A message on `turnvault.erasures`, keyed by `["tenant_id","customer_id"]`: a customer was erased
 * (`turnvault erase`), so downstream consumers erase it too. It carries the receipt, never a value.
 */
export const ErasureEvent = Schema.Struct({
  event_type: Schema.Literal("customer.erased"),
  tenant_id: Schema.String,
  customer_id: Schema.String,
  erased_at: Schema.String,
  erased_by: Schema.String,
  reason: Schema.String,
  receipt_seq: Schema.Number.annotations({ description: "the tenant's erasure receipt number" }),
  receipt_hash: Hex,
  key_versions: Schema.Array(Schema.Number).annotations({
    description: "the customer's data-key versions destroyed (empty when values are not sealed)"
  }),
  rows_tombstoned: Schema.Number
}).annotations({ identifier: "ErasureEvent", title: "turnvault customer erasure" })
export type ErasureEvent = typeof ErasureEvent.Type
