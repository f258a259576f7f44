/**
 * Port: where turn events come from. A source delivers the records of each partition in order, in
 * batches, one batch of a partition at a time; different partitions run concurrently. The stream
 * (streams/TurnStream.ts) handles a batch and then calls its `commit`, which moves the source's
 * committed position past it: nothing else commits. Adapters: the embedded in-process log, Kafka,
 * and a JSONL file (one ordered partition, for `turnvault process`).
 */
import { Context, Data, type Effect } from "effect"

export interface SourceRecord {
  readonly topic: string
  readonly partition: number
  /** Position in the partition (a Kafka offset, a log offset, a 0-based file line). */
  readonly offset: string
  readonly key: string | null
  readonly value: string
  /** Message headers, where the log has them (the repartition stage records the origin there). */
  readonly headers?: Readonly<Record<string, string>>
}

export interface SourceBatch {
  readonly topic: string
  readonly partition: number
  /** Consecutive records of one partition, in order; never empty. */
  readonly records: ReadonlyArray<SourceRecord>
  /** Acknowledges every record of the batch: the partition resumes after the last one. */
  readonly commit: Effect.Effect<void, EventSourceError>
}

/** What the stream does with what a source delivers. */
export interface BatchHandler<R> {
  /** Handles one batch; the source offers the partition's next batch only after this returns. */
  readonly onBatch: (batch: SourceBatch) => Effect.Effect<void, EventSourceError, R>
  /** Partitions of `topic` this instance no longer owns (a rebalance): their in-memory state is stale. */
  readonly onRevoked: (topic: string, partitions: ReadonlyArray<number>) => Effect.Effect<void, never, R>
}

export class EventSourceError extends Data.TaggedError("EventSourceError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

export interface EventSourceService {
  /**
   * Delivers batches to `handler` until the source is exhausted (a file) or interrupted (a log).
   * A failed `onBatch` is the source's to recover from (a Kafka rebalance redelivers the batch).
   */
  readonly run: <R>(handler: BatchHandler<R>) => Effect.Effect<void, EventSourceError, R>
}

export class EventSource extends Context.Tag("turnvault/EventSource")<EventSource, EventSourceService>() {}
