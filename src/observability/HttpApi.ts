/**
 * The HTTP surface (DESIGN 7): `/metrics` (Prometheus exposition), `/healthz` (the process is
 * alive: its consumer runs, or was recreated within a grace period) and `/readyz` (connected and making progress), on TURNVAULT_HTTP_PORT.
 * With the admin API mounted: `/v1`, `/openapi.json` and the inspector page that calls them (`/ui`).
 */
import { type HttpApp, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer } from "effect"
import { createServer } from "node:http"
import { inspectorRoutes } from "./InspectorUi"
import { Metrics } from "./Metrics"

/** One dependency's answer: usable right now or not, and why not. */
export interface CheckResult {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
  /**
   * Set on a dependency the service runs without, more slowly (the Redis cache: every read goes to
   * PostgreSQL): its failure marks the service degraded, not unready.
   */
  readonly degradesOnly?: true
}

/**
 * Readiness: each check says whether its dependency is usable right now, and why not; `alive` says
 * whether the process still does its work at all (`/healthz`).
 */
export class Readiness extends Context.Tag("turnvault/Readiness")<
  Readiness,
  {
    readonly check: Effect.Effect<ReadonlyArray<CheckResult>>
    readonly alive: Effect.Effect<{ readonly ok: boolean; readonly detail: string }>
  }
>() {}

/**
 * `/readyz`'s answer: 200 when every check a dependency the service needs passes, else 503; the body
 * lists every check and says `degraded` when one it can run without fails.
 */
export const readinessAnswer = (checks: ReadonlyArray<CheckResult>) => {
  const ready = checks.every((c) => c.ok || c.degradesOnly === true)
  const degraded = checks.some((c) => !c.ok && c.degradesOnly === true)
  return { status: ready ? 200 : 503, body: { ready, degraded, checks } }
}

const router = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/metrics",
    Effect.gen(function* () {
      const metrics = yield* Metrics
      const body = yield* Effect.promise(() => metrics.registry.metrics())
      return HttpServerResponse.text(body, { contentType: metrics.registry.contentType })
    })
  ),
  HttpRouter.get(
    "/healthz",
    Effect.gen(function* () {
      const alive = yield* (yield* Readiness).alive
      return yield* HttpServerResponse.json(
        { status: alive.ok ? "ok" : "failing", detail: alive.detail },
        { status: alive.ok ? 200 : 503 }
      )
    })
  ),
  HttpRouter.get(
    "/readyz",
    Effect.gen(function* () {
      const { status, body } = readinessAnswer(yield* (yield* Readiness).check)
      return yield* HttpServerResponse.json(body, { status })
    })
  )
)

/**
 * An HTTP app served beside the probes: the admin API (paths under /v1) and its OpenAPI document.
 * The inspector page comes with it: without the API it would have nothing to show.
 */
export interface MountedApi {
  readonly app: HttpApp.Default<never, HttpRouter.HttpRouter.DefaultServices>
  readonly openApi: unknown
}

export const HttpLive = (port: number, api?: MountedApi) =>
  HttpServer.serve(
    api === undefined
      ? router
      : router.pipe(
          HttpRouter.get("/openapi.json", HttpServerResponse.unsafeJson(api.openApi)),
          HttpRouter.mountApp("/v1", api.app, { includePrefix: true }),
          inspectorRoutes
        )
  ).pipe(
    HttpServer.withLogAddress,
    Layer.provide(NodeHttpServer.layer(createServer, { port, host: "0.0.0.0" }))
  )
