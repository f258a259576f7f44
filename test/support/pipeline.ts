/** Test wiring: the real pipeline on the embedded defaults, configured from a map. */
import { ConfigProvider, Effect, Layer } from "effect"
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { TurnEvent, TurnRecord } from "../../schemas"
import { AuditStore } from "../../src/ports/AuditStore"
import { TurnStream } from "../../streams/TurnStream"
import { embeddedLogLayer, fileLogLayer, pipelineLayer } from "../../src/app/layers"
import { TurnBatch } from "../../src/batch/TurnBatch"
import { AppConfig } from "../../src/config/AppConfig"
import { processFile } from "../../src/app/commands/process"
import { MemoryStoresLive } from "../../src/adapters/embedded"
import { Metrics } from "../../src/observability/Metrics"

export const loadConfig = (overrides: Record<string, string> = {}) =>
  AppConfig.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(overrides)))))

/** The whole pipeline over the given log and stores. */
export const pipelineOn = <Log>(
  log: (config: AppConfig) => Layer.Layer<Log>,
  overrides: Record<string, string> = {},
  stores = MemoryStoresLive
) =>
  Layer.unwrapEffect(
    Effect.map(loadConfig(overrides), (config) =>
      pipelineLayer(config).pipe(
        Layer.provideMerge(Layer.mergeAll(stores, log(config))),
        Layer.provideMerge(Metrics.layerTest)
      )
    )
  )

/** The whole pipeline over in-memory stores (or the given stores layer) and the embedded log. */
export const embeddedPipeline = (overrides: Record<string, string> = {}, stores = MemoryStoresLive) =>
  pipelineOn(embeddedLogLayer, overrides, stores)

/**
 * One batch through the batch core, step by step as the stream takes it but with no pause: a
 * failing step fails the batch (and forgets it), so tests see each typed error.
 */
export const processEvents = (events: ReadonlyArray<TurnEvent>, partition = -1) =>
  Effect.gen(function* () {
    const core = yield* TurnBatch
    const batch = yield* core.apply(events, partition)
    yield* Effect.gen(function* () {
      yield* core.persist(batch)
      yield* core.publish(batch)
      yield* core.complete(batch)
    }).pipe(Effect.onError(() => core.forget(batch)))
    return batch.results
  })

/** Events through the whole stream (decode, pause policy, DLQ), as a batch of one partition. */
export const streamEvents = (events: ReadonlyArray<TurnEvent>, partition = -1) =>
  Effect.flatMap(TurnStream, (stream) =>
    stream.handle(
      events.map((event, i) => ({
        topic: "test",
        partition,
        offset: String(i),
        key: event.session_id,
        value: Buffer.from(JSON.stringify(event))
      })),
      partition
    )
  )

const readJsonl = (path: string) =>
  Effect.promise(async () =>
    (await readFile(path, "utf8"))
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Record<string, any>)
  )

export interface ProcessExport {
  readonly sessions: Array<Record<string, any>>
  readonly profile: Array<Record<string, any>>
  readonly records: Array<Record<string, any>>
  readonly dlq: Array<Record<string, any>>
  readonly dir: string
  /** The stored turn records, whole (the export file holds DESIGN 9's fields only). */
  readonly stored: ReadonlyArray<TurnRecord>
}

/** Runs `process` on the given definitions and event lines; returns the four export files. */
export const runProcess = (
  definitions: ReadonlyArray<object>,
  lines: ReadonlyArray<string | object>,
  overrides: Record<string, string> = {},
  stores = MemoryStoresLive,
  requirements?: ReadonlyArray<object>
) =>
  Effect.gen(function* () {
    const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "turnvault-process-")))
    const defsPath = join(dir, "defs.json")
    const reqsPath = join(dir, "reqs.json")
    const inputPath = join(dir, "events.jsonl")
    yield* Effect.promise(() => writeFile(defsPath, JSON.stringify(definitions)))
    if (requirements !== undefined)
      yield* Effect.promise(() => writeFile(reqsPath, JSON.stringify(requirements)))
    const text = lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n"
    yield* Effect.promise(() => writeFile(inputPath, text))
    const out = join(dir, "out")
    const stored = yield* processFile({
      definitions: defsPath,
      requirements: requirements === undefined ? undefined : reqsPath,
      input: inputPath,
      exportDir: out,
      batchSize: Number(overrides.TURNVAULT_BATCH_SIZE ?? 1)
    }).pipe(
      Effect.zipRight(Effect.flatMap(AuditStore, (audit) => audit.listRecords({}))),
      Effect.provide(pipelineOn(fileLogLayer, overrides, stores))
    )
    return {
      sessions: yield* readJsonl(join(out, "sessions.jsonl")),
      profile: yield* readJsonl(join(out, "profile_fields.jsonl")),
      records: yield* readJsonl(join(out, "turn_records.jsonl")),
      dlq: yield* readJsonl(join(out, "dlq.jsonl")),
      dir: out,
      stored
    } satisfies ProcessExport
  })
