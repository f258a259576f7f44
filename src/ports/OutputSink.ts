/**
 * Port: publishes output messages (memory-ingestion tasks, turn records, telemetry, DLQ) keyed by
 * session id. Adapters: the embedded log (here) and Kafka (src/kafka). Every message carries the
 * turn id or event id, so consumers de-duplicate what a redelivery publishes twice.
 */
import { Context, Data, Effect, Layer } from "effect"
import { InProcessLog } from "../adapters/embedded/InProcessLog"

export interface OutputMessage {
  readonly topic: string
  readonly key: string | null
  readonly value: string
  readonly headers?: Readonly<Record<string, string>>
}

export class OutputSinkError extends Data.TaggedError("OutputSinkError")<{ readonly cause: unknown }> {}

export interface OutputSinkService {
  /** Resolves once every message is acknowledged by the log. */
  readonly publish: (messages: ReadonlyArray<OutputMessage>) => Effect.Effect<void, OutputSinkError>
}

export class OutputSink extends Context.Tag("turnvault/OutputSink")<OutputSink, OutputSinkService>() {
  /** Appends to the embedded in-process log. */
  static readonly inProcess = Layer.effect(
    OutputSink,
    Effect.map(InProcessLog, (log) => ({
      publish: (messages) =>
        Effect.sync(() => {
          for (const message of messages) log.append(message)
        })
    }))
  )
}
