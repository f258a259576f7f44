/**
 * EventSource over a JSONL file (`turnvault process`): the file is one ordered partition, its
 * lines are the records (offset = 0-based line index, no key), delivered in batches of
 * `batchSize` consecutive lines. `run` returns once every line has been handled and committed.
 */
import { Effect, Layer } from "effect"
import { readFile } from "node:fs/promises"
import { EventSource, EventSourceError, type SourceRecord } from "../../ports/EventSource"

export interface FileSourceConfig {
  readonly path: string
  readonly batchSize: number
}

/** The lines of a JSONL text; a final newline does not make an extra empty line. */
export const splitLines = (text: string): Array<string> => {
  const lines = text.split("\n")
  if (lines.at(-1) === "") lines.pop()
  return lines
}

export const makeFileSource = (config: FileSourceConfig) =>
  EventSource.of({
    run: (handler) =>
      Effect.gen(function* () {
        const text = yield* Effect.tryPromise({
          try: () => readFile(config.path, "utf8"),
          catch: (cause) => new EventSourceError({ operation: `read ${config.path}`, cause })
        })
        const records: ReadonlyArray<SourceRecord> = splitLines(text).map((value, i) => ({
          topic: config.path,
          partition: 0,
          offset: String(i),
          key: null,
          value
        }))
        const size = Math.max(1, config.batchSize)
        for (let i = 0; i < records.length; i += size) {
          // A file has no position to keep: a rerun starts at its first line (turns are idempotent).
          const started = yield* handler.onBatch({
            topic: config.path,
            partition: 0,
            records: records.slice(i, i + size),
            commit: Effect.void,
            settled: Effect.void
          })
          yield* started.complete
        }
      })
  })

export const FileSourceLive = (config: FileSourceConfig) => Layer.succeed(EventSource, makeFileSource(config))
