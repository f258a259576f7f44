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

/**
 * The lines of a JSONL file, each with its bytes exactly (a line need not be UTF-8: the stream
 * says so); a final newline does not make an extra empty line.
 */
export const splitLineBytes = (bytes: Buffer): Array<Buffer> => {
  const lines: Array<Buffer> = []
  let from = 0
  for (let at = bytes.indexOf(0x0a); at !== -1; at = bytes.indexOf(0x0a, from)) {
    lines.push(bytes.subarray(from, at))
    from = at + 1
  }
  if (from < bytes.length) lines.push(bytes.subarray(from))
  return lines
}

export const makeFileSource = (config: FileSourceConfig) =>
  EventSource.of({
    run: (handler) =>
      Effect.gen(function* () {
        const bytes = yield* Effect.tryPromise({
          try: () => readFile(config.path),
          catch: (cause) => new EventSourceError({ operation: `read ${config.path}`, cause })
        })
        const records: ReadonlyArray<SourceRecord> = splitLineBytes(bytes).map((value, i) => ({
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
