/**
 * `turnvault process --definitions DEFS.json [--requirements REQS.json] --input EVENTS.jsonl
 * --export DIR` (DESIGN 9):
 * runs a file of events, in file order, through the same TurnStream as the service, then exports
 * the stores and the DLQ lines.
 */
import { Effect, Schema } from "effect"
import { readFile } from "node:fs/promises"
import type * as Prom from "prom-client"
import { FieldDefinitions, ScenarioFieldRequirements } from "../../../schemas"
import { TurnStream } from "../../../streams/TurnStream"
import { FileDeadLetters } from "../../adapters/file/FileDeadLetters"
import { FileSourceLive } from "../../adapters/file/FileSource"
import { Metrics } from "../../observability/Metrics"
import { ProfileStore } from "../../ports/ProfileStore"
import { exportStores, jsonl, writeFile_ } from "./exportStores"

export class CliInputError extends Schema.TaggedError<CliInputError>()("CliInputError", {
  message: Schema.String
}) {}

/** Reads and decodes a JSON file of the given schema; every problem is a CliInputError naming the file. */
export const readJsonFile = <A, I>(path: string, schema: Schema.Schema<A, I>) =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (e) => new CliInputError({ message: `cannot read ${path}: ${String(e)}` })
    })
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => new CliInputError({ message: `${path} is not JSON: ${String(e)}` })
    })
    return yield* Schema.decodeUnknown(schema)(json).pipe(
      Effect.mapError((e) => new CliInputError({ message: `${path}: ${e.message}` }))
    )
  })

/** Reads and decodes a DEFS.json file. */
export const readDefinitions = (path: string) => readJsonFile(path, FieldDefinitions)

/** Reads and decodes a REQS.json file (scenario field requirements). */
export const readRequirements = (path: string) => readJsonFile(path, ScenarioFieldRequirements)

export const importRequirements = (path: string) =>
  Effect.gen(function* () {
    const requirements = yield* readRequirements(path)
    const changed = yield* (yield* ProfileStore).upsertRequirements(requirements)
    return { requirements: requirements.length, changed }
  })

export const importDefinitions = (path: string) =>
  Effect.gen(function* () {
    const defs = yield* readDefinitions(path)
    const changed = yield* (yield* ProfileStore).upsertDefinitions(defs)
    return { definitions: defs.length, changed }
  })

/** The sum of a counter's series whose labels match `where`. */
const total = (counter: Prom.Counter<string>, where: Record<string, string> = {}) =>
  Effect.map(
    Effect.promise(() => counter.get()),
    (metric) =>
      metric.values
        .filter((v) => Object.entries(where).every(([k, value]) => v.labels[k] === value))
        .reduce((sum, v) => sum + v.value, 0)
  )

/**
 * Runs the file through the same stream as the service: the file is one ordered partition whose
 * batches are `batchSize` consecutive lines (a batch applies its events one after another, in
 * order, exactly as one at a time would; the stores see one unit of work per batch). The dead
 * letters the stream publishes become `dlq.jsonl` (FileDeadLetters); then the stores are exported.
 */
export const processFile = (options: {
  definitions: string
  /** REQS.json: scenario field requirements, imported before the run (optional). */
  requirements?: string | undefined
  input: string
  exportDir: string
  batchSize: number
}) =>
  Effect.gen(function* () {
    yield* importDefinitions(options.definitions)
    if (options.requirements !== undefined) yield* importRequirements(options.requirements)
    const stream = yield* TurnStream
    yield* stream.run({ repartition: false, fence: false }).pipe(
      Effect.provide(FileSourceLive({ path: options.input, batchSize: options.batchSize })),
      Effect.catchTag(
        "EventSourceError",
        (e) => new CliInputError({ message: `cannot read ${options.input}: ${String(e.cause)}` })
      )
    )
    const dlq = (yield* FileDeadLetters).lines()
    const counts = yield* exportStores(options.exportDir)
    yield* writeFile_(options.exportDir, "dlq.jsonl", jsonl(dlq))
    const metrics = yield* Metrics
    return {
      lines: yield* total(metrics.committedOffsets),
      applied: yield* total(metrics.events, { result: "applied" }),
      dlq: dlq.length,
      ...counts
    }
  })
