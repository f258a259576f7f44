/**
 * The admin API on a free port over given stores, for its tests and its benchmark: the app of
 * `start` (adminHttpApp, HttpLive) without the stream, with the caller's ItemChanges and OutputSink
 * (recorders in tests) and an always-ready Readiness.
 */
import { type Context, Effect, Layer } from "effect"
import { type AdminApiConfig, adminHttpApp, openApiDocument } from "../../src/app/adminApi"
import { HttpLive, Readiness } from "../../src/observability/HttpApi"
import { Metrics } from "../../src/observability/Metrics"
import { ItemChanges, type ItemChangesService } from "../../src/ports/ItemChanges"
import type { ChangedItem } from "../../src/ports/ProfileStore"
import { type OutputMessage, OutputSink, type OutputSinkService } from "../../src/ports/OutputSink"
import { freePort } from "./child"

/** An ItemChanges that hands every published batch to `onPublish` and reaches nobody else. */
export const recordingItemChanges = (
  onPublish: (items: ReadonlyArray<ChangedItem>) => void
): ItemChangesService => ({
  publish: (items) => Effect.sync(() => onPublish(items)),
  subscribed: Effect.void,
  onChange: () => Effect.void
})

/** An OutputSink that hands every published batch to `onPublish` (the quarantine controls' messages). */
export const recordingSink = (
  onPublish: (messages: ReadonlyArray<OutputMessage>) => void
): OutputSinkService => ({
  publish: (messages) => Effect.sync(() => onPublish(messages))
})

/** Serves the API for the scope's lifetime; answers its port. */
export const serveAdminApi = <R>(
  stores: Context.Context<R>,
  config: AdminApiConfig,
  changes: ItemChangesService,
  sink: OutputSinkService = recordingSink(() => {})
) =>
  Effect.gen(function* () {
    const app = yield* adminHttpApp(config).pipe(
      Effect.provide(
        Layer.mergeAll(
          Layer.succeedContext(stores),
          Layer.succeed(ItemChanges, changes),
          Layer.succeed(OutputSink, sink)
        )
      )
    )
    const port = yield* Effect.promise(() => freePort())
    const readiness = Layer.succeed(Readiness, {
      check: Effect.succeed([]),
      alive: Effect.succeed({ ok: true, detail: "" })
    })
    yield* Layer.build(
      HttpLive(port, { app, openApi: openApiDocument() }).pipe(Layer.provide([Metrics.layerTest, readiness]))
    )
    return port
  })
