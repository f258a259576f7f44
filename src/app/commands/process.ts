/**
 * `turnvault process --definitions DEFS.json --input EVENTS.jsonl --export DIR` (DESIGN 9):
 * runs a file of events, one at a time in file order, through the same TurnProcessor as the
 * service, then exports the stores and the DLQ lines.
 */
import { Effect, Either, Schema } from "effect"
import { readFile } from "node:fs/promises"
import { FieldDefinitions, type TurnEvent } from "../../../schemas"
import { decodeTurnEvent } from "../../../streams/decode"
import { TurnProcessor } from "../../batch/TurnBatch"
import { ProfileStore } from "../../ports/ProfileStore"
import { exportStores, jsonl, writeFile_ } from "./exportStores"

export class CliInputError extends Schema.TaggedError<CliInputError>()("CliInputError", {
  message: Schema.String
}) {}

/** Reads and decodes a DEFS.json file. */
export const readDefinitions = (path: string) =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (e) => new CliInputError({ message: `cannot read ${path}: ${String(e)}` })
    })
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => new CliInputError({ message: `${path} is not JSON: ${String(e)}` })
    })
    return yield* Schema.decodeUnknown(FieldDefinitions)(json).pipe(
      Effect.mapError((e) => new CliInputError({ message: `${path}: ${e.message}` }))
    )
  })

export const importDefinitions = (path: string) =>
  Effect.gen(function* () {
    const defs = yield* readDefinitions(path)
    const changed = yield* (yield* ProfileStore).upsertDefinitions(defs)
    return { definitions: defs.length, changed }
  })

/**
 * Events are applied strictly in file order. Consecutive lines are handed to the processor in
 * batches of `batchSize` (it applies a batch's events one after another, in order, exactly as
 * one at a time would), so the stores see one unit of work per batch instead of one per line.
 */
export const processFile = (options: {
  definitions: string
  input: string
  exportDir: string
  batchSize: number
}) =>
  Effect.gen(function* () {
    yield* importDefinitions(options.definitions)
    const processor = yield* TurnProcessor
    const text = yield* Effect.tryPromise({
      try: () => readFile(options.input, "utf8"),
      catch: (e) => new CliInputError({ message: `cannot read ${options.input}: ${String(e)}` })
    })
    const lines = text.split("\n")
    if (lines.at(-1) === "") lines.pop()
    const dlq: Array<{ line: number; reason: string; detail: string }> = []
    let applied = 0
    let batch: Array<{ line: number; event: TurnEvent }> = []
    const flush = Effect.gen(function* () {
      if (batch.length === 0) return
      const results = yield* processor.process(batch.map((b) => b.event))
      results.forEach((result, i) => {
        if (result.kind === "out_of_order")
          dlq.push({ line: batch[i]!.line, reason: "out_of_order", detail: result.detail })
        if (result.kind === "applied") applied += 1
      })
      batch = []
    })
    for (let i = 0; i < lines.length; i++) {
      const decoded = decodeTurnEvent(lines[i]!)
      if (Either.isLeft(decoded)) dlq.push({ line: i + 1, ...decoded.left })
      else batch.push({ line: i + 1, event: decoded.right })
      if (batch.length >= options.batchSize) yield* flush
    }
    yield* flush
    dlq.sort((a, b) => a.line - b.line)
    const counts = yield* exportStores(options.exportDir)
    yield* writeFile_(options.exportDir, "dlq.jsonl", jsonl(dlq))
    return { lines: lines.length, applied, dlq: dlq.length, ...counts }
  })
