/**
 * Port: where turn events come from. A source delivers the records of each partition in order, in
 * batches; different partitions run concurrently. The stream (streams/TurnStream.ts) starts a
 * batch (`onBatch`: decode, apply in memory) and returns how to complete it (persist, publish,
 * then `commit`, which moves the source's committed position past it: nothing else commits).
 * A partition's batches complete one at a time, in order; a source may start the next batch while
 * the previous one completes (Kafka does: a pipeline of two per partition). Adapters: the embedded
 * in-process log, Kafka, and a JSONL file (one ordered partition, for `turnvault process`).
 */
import { Context, Data, type Effect } from "effect"

export interface SourceRecord {
  readonly topic: string
  readonly partition: number
  /** Position in the partition (a Kafka offset, a log offset, a 0-based file line). */
  readonly offset: string
  readonly key: string | null
  /** The message's bytes exactly as the log holds them (the DLQ gets these very bytes). */
  readonly value: Buffer
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
  /**
   * Succeeds once the partition's earlier batches have completed or were given up: a started batch
   * that must reload state from the stores waits for it, so it reads what they wrote.
   */
  readonly settled: Effect.Effect<void>
}

/** A batch the stream has started: how to finish it, or give it up. */
export interface StartedBatch<R> {
  /** Makes the batch durable, publishes its outputs and commits it. */
  readonly complete: Effect.Effect<void, EventSourceError, R>
  /** Forgets what starting it built in memory; its records come again from the committed offset. */
  readonly abandon: Effect.Effect<void, never, R>
}

/** What the stream does with what a source delivers. */
export interface BatchHandler<R> {
  /**
   * Starts one batch. A source starts a partition's batches in order and runs their `complete` one
   * at a time, in order: batch n + 1 may be started while batch n completes, but it completes only
   * after batch n did, and is abandoned instead when batch n failed. At most one batch of a
   * partition is started and not yet completing.
   */
  readonly onBatch: (batch: SourceBatch) => Effect.Effect<StartedBatch<R>, EventSourceError, R>
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
