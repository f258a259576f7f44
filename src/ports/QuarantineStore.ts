/**
 * Port: sessions set aside because one of their events fails for good (a value the database
 * refuses, a defect in one code path). The failing event and every later event of the session are
 * parked here, in order, with their original bytes, so that the rest of the partition moves on and
 * nothing is lost. An operator releases a session (its parked events go through the flow again, in
 * order) or drops it (they go to the DLQ, reason `operator_dropped`); the partition's owner carries
 * both out, in the stream's order, when it reads the operator's control message. Writes join the
 * caller's unit of work (the batch's transaction). Adapters: in memory and PostgreSQL
 * (`quarantined_events`).
 */
import { Context, Data, type Effect } from "effect"

/** Why an event was parked. */
export type ParkReason =
  /** A store refused the event's writes (an SQLSTATE that retrying does not change). */
  | "store_refused"
  /** Applying the event failed (a defect, or a store look-up refused for good). */
  | "apply_failed"
  /** An earlier event of the session is parked: later ones wait behind it, in order. */
  | "session_quarantined"

export interface ParkedEvent {
  readonly tenant_id: string
  readonly session_id: string
  readonly customer_id: string
  readonly event_id: string
  readonly turn_id: string | null
  /** Where the stateful stage read it (for Kafka: the by-customer topic). */
  readonly topic: string
  readonly partition: number
  readonly offset: string
  readonly key: string | null
  /** The record's bytes, exactly. */
  readonly value: Buffer
  readonly headers: Readonly<Record<string, string>>
  readonly reason: ParkReason
  /** What failed, for operators (`quarantine show`): may quote a value, so it never reaches the logs. */
  readonly error: string
}

export type ParkedStatus = "parked" | "released" | "dropped"

export interface StoredParkedEvent extends ParkedEvent {
  /** Order of parking, increasing. */
  readonly seq: string
  readonly status: ParkedStatus
  readonly parked_at: string
  /** The control message that released or dropped it (`topic/partition/offset`). */
  readonly resolved_by: string | null
}

/** A quarantined session: one with events still parked. */
export interface QuarantinedSession {
  readonly tenant_id: string
  readonly session_id: string
  readonly customer_id: string
  readonly topic: string
  readonly partition: number
  readonly events: number
  readonly first_parked_at: string
  /** The reason and error of its first parked event. */
  readonly reason: ParkReason
  readonly error: string
}

/** An operator's release or drop of a session's parked events, carried out by the owner. */
export interface Resolution {
  readonly tenant_id: string
  readonly session_id: string
  readonly seqs: ReadonlyArray<string>
  readonly status: "released" | "dropped"
  readonly by: string
}

export interface QuarantineFilter {
  readonly tenantId?: string
  readonly topic?: string
  readonly partition?: number
}

export class QuarantineStoreError extends Data.TaggedError("QuarantineStoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

export interface QuarantineStoreService {
  /** Parks events (in the caller's unit of work), in the given order. */
  readonly park: (events: ReadonlyArray<ParkedEvent>) => Effect.Effect<void, QuarantineStoreError>
  /** Marks parked events released or dropped (in the caller's unit of work). */
  readonly resolve: (resolutions: ReadonlyArray<Resolution>) => Effect.Effect<void, QuarantineStoreError>
  /** Sessions with parked events, by tenant then session. */
  readonly sessions: (
    filter: QuarantineFilter
  ) => Effect.Effect<ReadonlyArray<QuarantinedSession>, QuarantineStoreError>
  /** A session's events of every status, in parking order. */
  readonly events: (
    tenantId: string,
    sessionId: string
  ) => Effect.Effect<ReadonlyArray<StoredParkedEvent>, QuarantineStoreError>
  /** The events a control message resolved, in parking order (to replay its effects after a crash). */
  readonly resolvedBy: (by: string) => Effect.Effect<ReadonlyArray<StoredParkedEvent>, QuarantineStoreError>
  /** Which of these offsets of the partition were parked (whatever became of them since). */
  readonly parkedOffsets: (
    topic: string,
    partition: number,
    offsets: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlySet<string>, QuarantineStoreError>
}

export class QuarantineStore extends Context.Tag("turnvault/QuarantineStore")<
  QuarantineStore,
  QuarantineStoreService
>() {}
