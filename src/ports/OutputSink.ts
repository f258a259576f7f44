/**
 * Port: publishes output messages (memory-ingestion tasks, turn records, telemetry, DLQ) keyed by
 * session id. Adapters: the embedded log and Kafka (src/adapters). Every message carries the
 * turn id or event id, so consumers de-duplicate what a redelivery publishes twice.
 */
import { Context, Data, type Effect } from "effect"

export interface OutputMessage {
  readonly topic: string
  readonly key: string | null
  /** JSON text, or bytes passed through as they came (repartitioned events, dead letters). */
  readonly value: string | Buffer
  readonly headers?: Readonly<Record<string, string>>
}

export class OutputSinkError extends Data.TaggedError("OutputSinkError")<{ readonly cause: unknown }> {}

export interface OutputSinkService {
  /** Resolves once every message is acknowledged by the log. */
  readonly publish: (messages: ReadonlyArray<OutputMessage>) => Effect.Effect<void, OutputSinkError>
}

export class OutputSink extends Context.Tag("turnvault/OutputSink")<OutputSink, OutputSinkService>() {}
