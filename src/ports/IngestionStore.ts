/**
 * Port: what the ingest worker (`turnvault ingest`, issue 15) keeps. One result per turn — the
 * de-duplication of its at-least-once input, and the record of which template and model produced
 * what — and one rolling summary per session with the turns it covers. Adapters: in memory and
 * PostgreSQL (`ingestion_results`, `session_summaries`, migration 0016).
 */
import { Context, Data, type Effect } from "effect"

export class IngestionStoreError extends Data.TaggedError("IngestionStoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

/** A value dropped from a model's answer (unknown field, invalid value), for the record. */
export interface DroppedField {
  readonly name: string
  readonly reason: string
}

export interface IngestionResult {
  readonly tenant_id: string
  readonly turn_id: string
  readonly session_id: string
  readonly customer_id: string
  readonly completed_at: string
  /** name@version of the extraction template. */
  readonly template: string
  /** The model that answered (`hints`: the embedded extractor). */
  readonly model: string
  /** Values published in the extraction event (held for review included). */
  readonly extracted: number
  readonly needs_review: number
  readonly dropped: ReadonlyArray<DroppedField>
}

export interface SessionSummary {
  readonly tenant_id: string
  readonly session_id: string
  readonly customer_id: string
  readonly summary: string
  /** The turns it covers, oldest first (the newest MAX_COVERED when a session runs long). */
  readonly covers_turn_ids: ReadonlyArray<string>
  readonly through_turn_number: number
  readonly template: string
  readonly model: string
  readonly updated_at: string
}

export interface IngestionStoreService {
  /** Which of `turnIds` have a result already. */
  readonly completed: (
    tenantId: string,
    turnIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlySet<string>, IngestionStoreError>
  /** Records turns' results; a second one for the same turn changes nothing (the first stays). */
  readonly record: (results: ReadonlyArray<IngestionResult>) => Effect.Effect<void, IngestionStoreError>
  readonly result: (
    tenantId: string,
    turnId: string
  ) => Effect.Effect<IngestionResult | null, IngestionStoreError>
  readonly summary: (
    tenantId: string,
    sessionId: string
  ) => Effect.Effect<SessionSummary | null, IngestionStoreError>
  /** Replaces the session's summary. */
  readonly saveSummary: (summary: SessionSummary) => Effect.Effect<void, IngestionStoreError>
}

export class IngestionStore extends Context.Tag("turnvault/IngestionStore")<
  IngestionStore,
  IngestionStoreService
>() {}
