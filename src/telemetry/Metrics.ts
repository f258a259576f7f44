/**
 * One metrics service over prom-client (DESIGN 7). Label sets are bounded: no tenant, session or
 * customer ids. Each layer instance owns its registry, so tests never share counters.
 */
import { Context, Effect, Layer } from "effect"
import * as Prom from "prom-client"

const seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

export const makeMetrics = (options: { readonly processMetrics: boolean }) => {
  const registry = new Prom.Registry()
  if (options.processMetrics) Prom.collectDefaultMetrics({ register: registry, prefix: "turnvault_" })
  const registers = [registry]
  return {
    registry,
    turnDuration: new Prom.Histogram({
      name: "turnvault_turn_processing_duration_seconds",
      help: "Time from taking a batch of events to all of its turns being durable, per turn",
      buckets: seconds,
      registers
    }),
    events: new Prom.Counter({
      name: "turnvault_events_total",
      help: "Input events by type and result (applied, duplicate, ignored, dlq)",
      labelNames: ["event_type", "result"] as const,
      registers
    }),
    turns: new Prom.Counter({
      name: "turnvault_turns_total",
      help: "Applied turns by resolution",
      labelNames: ["resolution"] as const,
      registers
    }),
    outcomeCategories: new Prom.Counter({
      name: "turnvault_turn_outcome_categories_total",
      help: "Outcome categories of applied turns",
      labelNames: ["category"] as const,
      registers
    }),
    turnGaps: new Prom.Counter({
      name: "turnvault_turn_gaps_total",
      help: "Turns whose turn_number skipped past the next expected one",
      registers
    }),
    persistenceDuration: new Prom.Histogram({
      name: "turnvault_persistence_duration_seconds",
      help: "Duration of one persistence operation for a batch of turns",
      labelNames: ["operation"] as const,
      buckets: seconds,
      registers
    }),
    persistenceOperations: new Prom.Counter({
      name: "turnvault_persistence_operations_total",
      help: "Persistence operations by operation and status (success, failure)",
      labelNames: ["operation", "status"] as const,
      registers
    }),
    persistenceUnitDuration: new Prom.Histogram({
      name: "turnvault_persistence_unit_duration_seconds",
      help: "Wall time of persisting one batch (all operations), by composition mode",
      labelNames: ["mode"] as const,
      buckets: seconds,
      registers
    }),
    persistenceTimeSaved: new Prom.Counter({
      name: "turnvault_persistence_time_saved_seconds_total",
      help: "Sum of operation durations minus wall time: what concurrent composition saved over sequential",
      registers
    }),
    customerDataUpdates: new Prom.Counter({
      name: "turnvault_customer_data_updates_total",
      help: "Candidate variables by scope and update status",
      labelNames: ["scope", "status"] as const,
      registers
    }),
    markedForPersistence: new Prom.Counter({
      name: "turnvault_updates_marked_for_persistence_total",
      help: "Customer-data updates marked for persistence, by scope",
      labelNames: ["scope"] as const,
      registers
    }),
    validationErrors: new Prom.Counter({
      name: "turnvault_validation_errors_total",
      help: "Validation errors by type",
      labelNames: ["type"] as const,
      registers
    }),
    dlqMessages: new Prom.Counter({
      name: "turnvault_dlq_messages_total",
      help: "Messages sent to the dead-letter queue, by reason",
      labelNames: ["reason"] as const,
      registers
    }),
    consumerLag: new Prom.Gauge({
      name: "turnvault_consumer_lag_messages",
      help: "Messages between the committed offset and the end of the partition",
      labelNames: ["partition"] as const,
      registers
    }),
    committedOffsets: new Prom.Counter({
      name: "turnvault_committed_events_total",
      help: "Events whose offsets were committed (acknowledged)",
      registers
    }),
    activeActors: new Prom.Gauge({
      name: "turnvault_active_actors",
      help: "Session actors resident in memory",
      registers
    }),
    cacheRequests: new Prom.Counter({
      name: "turnvault_cache_requests_total",
      help: "Cache look-ups by cache and result (hit, miss, error, fallback)",
      labelNames: ["cache", "result"] as const,
      registers
    }),
    telemetryBufferEntries: new Prom.Gauge({
      name: "turnvault_telemetry_buffer_entries",
      help: "Telemetry entries waiting in the bounded buffer",
      registers
    }),
    telemetryDropped: new Prom.Counter({
      name: "turnvault_telemetry_dropped_total",
      help: "Telemetry entries dropped because the buffer was full",
      registers
    }),
    outputsPublished: new Prom.Counter({
      name: "turnvault_outputs_published_total",
      help: "Messages published to output topics",
      labelNames: ["topic"] as const,
      registers
    })
  }
}

export type MetricsService = ReturnType<typeof makeMetrics>

export class Metrics extends Context.Tag("turnvault/Metrics")<Metrics, MetricsService>() {
  static readonly layer = (options: { readonly processMetrics: boolean } = { processMetrics: true }) =>
    Layer.sync(Metrics, () => makeMetrics(options))
  static readonly layerTest = Layer.sync(Metrics, () => makeMetrics({ processMetrics: false }))
}

export const exposition = Effect.flatMap(Metrics, (m) =>
  Effect.promise(() => m.registry.metrics()).pipe(
    Effect.map((body) => ({ body, contentType: m.registry.contentType }))
  )
)
