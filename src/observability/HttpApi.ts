/**
 * The HTTP surface (DESIGN 7): `/metrics` (Prometheus exposition), `/healthz` (the process is
 * alive) and `/readyz` (connected and making progress), on TURNVAULT_HTTP_PORT.
 */
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer } from "effect"
import { createServer } from "node:http"
import { Metrics } from "./Metrics"

/** Readiness: each check says whether its dependency is usable right now, and why not. */
export class Readiness extends Context.Tag("turnvault/Readiness")<
  Readiness,
  {
    readonly check: Effect.Effect<
      ReadonlyArray<{ readonly name: string; readonly ok: boolean; readonly detail: string }>
    >
  }
>() {}

const router = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/metrics",
    Effect.gen(function* () {
      const metrics = yield* Metrics
      const body = yield* Effect.promise(() => metrics.registry.metrics())
      return HttpServerResponse.text(body, { contentType: metrics.registry.contentType })
    })
  ),
  HttpRouter.get("/healthz", HttpServerResponse.json({ status: "ok" })),
  HttpRouter.get(
    "/readyz",
    Effect.gen(function* () {
      const checks = yield* (yield* Readiness).check
      const ready = checks.every((c) => c.ok)
      return yield* HttpServerResponse.json({ ready, checks }, { status: ready ? 200 : 503 })
    })
  )
)

export const HttpLive = (port: number) =>
  HttpServer.serve(router).pipe(
    HttpServer.withLogAddress,
    Layer.provide(NodeHttpServer.layer(createServer, { port, host: "0.0.0.0" }))
  )
