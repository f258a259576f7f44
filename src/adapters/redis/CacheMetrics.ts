/**
 * The cache's own metrics, registered in the Metrics service's registry next to
 * `turnvault_cache_requests_total` (which counts hit, miss, error and fallback per cache).
 * Registration is idempotent so two cached layers may share one Metrics service.
 */
import * as Prom from "prom-client"
import type { MetricsService } from "../../observability/Metrics"
import type { CacheName } from "./internal/keys"

const seconds = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

const registered = <M extends Prom.Metric>(registry: Prom.Registry, name: string, make: () => M): M =>
  (registry.getSingleMetric(name) as M | undefined) ?? make()

export type RequestResult = "hit" | "miss" | "error" | "fallback"

export const makeCacheMetrics = (metrics: MetricsService) => {
  const registers = [metrics.registry]
  const loadDuration = registered(
    metrics.registry,
    "turnvault_cache_load_duration_seconds",
    () =>
      new Prom.Histogram({
        name: "turnvault_cache_load_duration_seconds",
        help: "Latency of a cached load (profile, session snapshot, definitions) by where it was served from",
        labelNames: ["cache", "source"] as const,
        buckets: seconds,
        registers
      })
  )
  const writes = registered(
    metrics.registry,
    "turnvault_cache_writes_total",
    () =>
      new Prom.Counter({
        name: "turnvault_cache_writes_total",
        help: "Cache maintenance by cache and kind (fill, fill_refused, invalidate, snapshot) and result",
        labelNames: ["cache", "kind", "result"] as const,
        registers
      })
  )
  return {
    request: (cache: CacheName, result: RequestResult, count = 1) =>
      metrics.cacheRequests.inc({ cache, result }, count),
    loaded: (cache: CacheName, source: "cache" | "store", seconds: number) =>
      loadDuration.observe({ cache, source }, seconds),
    write: (
      cache: CacheName,
      kind: "fill" | "fill_refused" | "invalidate" | "snapshot",
      ok: boolean,
      count = 1
    ) => writes.inc({ cache, kind, result: ok ? "ok" : "error" }, count)
  }
}

export type CacheMetrics = ReturnType<typeof makeCacheMetrics>
