/**
 * Port: the signed audit checkpoints (DESIGN 8b), append-only, numbered 1, 2, 3, ...; and the
 * witness they are published to, read back by `turnvault verify --checkpoints`. Adapters:
 * embedded/MemoryCheckpointStore and postgres/PgCheckpointStore (table `audit_checkpoints`); the
 * witness is kafka/KafkaCheckpointWitness (the `turnvault.audit-checkpoints` topic) or none.
 */
import { Context, Data, type Effect } from "effect"
import type { AuditCheckpoint, StoredCheckpoint } from "../domain/checkpoint"

export class CheckpointStoreError extends Data.TaggedError("CheckpointStoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

export interface CheckpointStoreService {
  /** Stores a checkpoint; false when its seq is taken (another instance wrote that one first). */
  readonly append: (checkpoint: StoredCheckpoint) => Effect.Effect<boolean, CheckpointStoreError>
  /** The newest checkpoint, or null before the first. */
  readonly latest: () => Effect.Effect<StoredCheckpoint | null, CheckpointStoreError>
  /** Every checkpoint, by seq. */
  readonly list: () => Effect.Effect<ReadonlyArray<StoredCheckpoint>, CheckpointStoreError>
}

export class CheckpointStore extends Context.Tag("turnvault/CheckpointStore")<
  CheckpointStore,
  CheckpointStoreService
>() {}

export class CheckpointWitnessError extends Data.TaggedError("CheckpointWitnessError")<{
  readonly cause: unknown
}> {}

/** Where checkpoints were published, outside the database: what an attacker on it cannot rewrite. */
export interface CheckpointWitnessService {
  /** Every published checkpoint, in publication order (a re-published one may repeat). */
  readonly read: () => Effect.Effect<ReadonlyArray<AuditCheckpoint>, CheckpointWitnessError>
}

export class CheckpointWitness extends Context.Tag("turnvault/CheckpointWitness")<
  CheckpointWitness,
  CheckpointWitnessService
>() {}
