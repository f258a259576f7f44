/**
 * Metrics of the ingest worker (`turnvault ingest`, issue 15), in the registry of the process's
 * Metrics: tasks by result, provider latency, tokens by model, extraction outcomes by field, lag.
 * Field names come from the agents' definitions (a bounded set); a name a model made up is counted
 * as `<unknown>`, so a hallucinating model cannot grow the label set.
 */
import { Context, Effect, Layer } from "effect"
import * as Prom from "prom-client"
import { Metrics } from "./Metrics"

export const ingestLabels = {
  taskResults: ["extracted", "nothing_found", "duplicate", "dead_lettered", "erased"],
  calls: ["extract", "summarise"],
  callOutcomes: ["ok", "error"],
  valueOutcomes: ["kept", "held_for_review", "unknown_field", "invalid_value"]
} as const

export type TaskResult = (typeof ingestLabels.taskResults)[number]
export type ValueOutcome = (typeof ingestLabels.valueOutcomes)[number]

/** A model answer takes from milliseconds (the embedded extractor) to a minute. */
const providerSeconds = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60]

export const makeIngestMetrics = (registry: Prom.Registry) => {
  const registers = [registry]
  const m = {
    tasks: new Prom.Counter({
      name: "turnvault_ingest_tasks_total",
      help: "Memory-ingestion tasks by result (extracted, nothing_found, duplicate, dead_lettered, erased: its customer was erased, its texts no longer open)",
      labelNames: ["result"] as const,
      registers
    }),
    providerDuration: new Prom.Histogram({
      name: "turnvault_ingest_provider_duration_seconds",
      help: "Wall time of one model request (each try), by call (extract, summarise) and outcome",
      labelNames: ["call", "outcome"] as const,
      buckets: providerSeconds,
      registers
    }),
    providerRetries: new Prom.Counter({
      name: "turnvault_ingest_provider_retries_total",
      help: "Model requests tried again, by why (timeout, rate_limited, server, invalid_answer)",
      labelNames: ["kind"] as const,
      registers
    }),
    tokens: new Prom.Counter({
      name: "turnvault_ingest_tokens_total",
      help: "Tokens the provider reported, by model and direction (in, out)",
      labelNames: ["model", "direction"] as const,
      registers
    }),
    values: new Prom.Counter({
      name: "turnvault_ingest_extracted_values_total",
      help: "Values in model answers by field and outcome (kept, held_for_review, unknown_field, invalid_value)",
      labelNames: ["field", "outcome"] as const,
      registers
    }),
    lag: new Prom.Gauge({
      name: "turnvault_ingest_lag",
      help: "Memory-ingestion tasks not yet processed, by partition, as of the latest batch",
      labelNames: ["partition"] as const,
      registers
    })
  }
  for (const result of ingestLabels.taskResults) m.tasks.inc({ result }, 0)
  for (const call of ingestLabels.calls)
    for (const outcome of ingestLabels.callOutcomes) m.providerDuration.zero({ call, outcome })
  return m
}

export type IngestMetricsService = ReturnType<typeof makeIngestMetrics>

export class IngestMetrics extends Context.Tag("turnvault/IngestMetrics")<
  IngestMetrics,
  IngestMetricsService
>() {
  static readonly layer = Layer.effect(
    IngestMetrics,
    Effect.map(Metrics, (metrics) => makeIngestMetrics(metrics.registry))
  )
}
