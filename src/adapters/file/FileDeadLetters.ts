/**
 * The dead letters of a file run (`dlq.jsonl` of `turnvault process`): an OutputSink decorator
 * that keeps every message for the DLQ topic as `{ line, reason, detail }` (line = 1-based, from
 * the record's offset) and hands every other message to the sink it wraps.
 */
import { Context, Effect, Layer } from "effect"
import { OutputSink } from "../../ports/OutputSink"

export interface DeadLetterLine {
  readonly line: number
  readonly reason: string
  readonly detail: string
}

export class FileDeadLetters extends Context.Tag("turnvault/FileDeadLetters")<
  FileDeadLetters,
  { readonly lines: () => ReadonlyArray<DeadLetterLine> }
>() {}

/** Decorates the OutputSink of the context; also provides the collected `FileDeadLetters`. */
export const withFileDeadLetters = (dlqTopic: string) =>
  Layer.effectContext(
    Effect.gen(function* () {
      const inner = yield* OutputSink
      const lines: Array<DeadLetterLine> = []
      const sink = OutputSink.of({
        publish: (messages) => {
          const rest = messages.filter((m) => m.topic !== dlqTopic)
          for (const m of messages) {
            if (m.topic !== dlqTopic) continue
            lines.push({
              line: Number(m.headers?.source_offset ?? -1) + 1,
              reason: m.headers?.reason ?? "unknown",
              detail: m.headers?.detail ?? ""
            })
          }
          return rest.length === 0 ? Effect.void : inner.publish(rest)
        }
      })
      const sorted = () => [...lines].sort((a, b) => a.line - b.line)
      return Context.make(OutputSink, sink).pipe(Context.add(FileDeadLetters, { lines: sorted }))
    })
  )
