/**
 * Port: who owns a partition of the stateful stage, for fencing (DESIGN 4). On assignment the owner
 * `claim`s the partition, which bumps its generation; each batch's unit of work first `advance`s
 * the partition's durable offset, which succeeds only while the claim's generation is current. A
 * stale owner (paused past its session timeout while another took over) gets `PartitionFenced`
 * and none of its batch commits. A claim also hands the new owner the durable offset its
 * predecessors reached: the records below it are applied already, whatever Kafka's committed
 * offset says. Adapters: in memory (one process: never contended) and PostgreSQL.
 */
import { Context, Data, type Effect } from "effect"

export interface PartitionClaim {
  readonly group: string
  readonly topic: string
  readonly partition: number
  readonly generation: number
  /**
   * The partition's durable offset when it was claimed (the offset after the last batch that wrote
   * under an earlier claim), or null: records below it are replayed, never applied again.
   */
  readonly durableOffset: string | null
}

/** Another owner claimed the partition after this claim: this instance's view of it is stale. */
export class PartitionFenced extends Data.TaggedError("PartitionFenced")<{
  readonly topic: string
  readonly partition: number
  readonly generation: number
}> {}

export class OwnershipStoreError extends Data.TaggedError("OwnershipStoreError")<{
  readonly operation: "claim" | "advance" | "load"
  readonly cause: unknown
}> {}

export interface PartitionOwnershipService {
  /** Takes the partition over: a generation above every earlier claim. */
  readonly claim: (
    group: string,
    topic: string,
    partition: number
  ) => Effect.Effect<PartitionClaim, OwnershipStoreError>
  /** Records `offset` as durable for the partition, in the caller's unit of work, if `claim` still holds. */
  readonly advance: (
    claim: PartitionClaim,
    offset: string
  ) => Effect.Effect<void, OwnershipStoreError | PartitionFenced>
  /** The partition's durable offset and generation (operators, tests), or null when never claimed. */
  readonly load: (
    group: string,
    topic: string,
    partition: number
  ) => Effect.Effect<
    { readonly generation: number; readonly durableOffset: string | null } | null,
    OwnershipStoreError
  >
}

export class PartitionOwnership extends Context.Tag("turnvault/PartitionOwnership")<
  PartitionOwnership,
  PartitionOwnershipService
>() {}
