/**
 * One metrics service over prom-client (DESIGN 7). Label sets are bounded: no tenant, session or
 * customer ids. Each layer instance owns its registry, so tests never share counters.
 */
import { Context, Effect, Layer } from "effect"
import * as Prom from "prom-client"
import { DlqReason, OutcomeCategory, Resolution, Scope, UpdateStatus, ValueType } from "../../schemas"
import type { ValidationErrorType } from "../domain/coercion"
import type { ParkReason } from "../ports/QuarantineStore"

const seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

/**
 * prom-client's default collectors include three gauges named `*_total` (active handles, requests,
 * resources), which Prometheus reserves for counters (`promtool check metrics` rejects them). Their
 * per-type siblings (`nodejs_active_handles` etc.) carry the same information.
 */
const nonConformingDefaults = ["active_handles_total", "active_requests_total", "active_resources_total"]

/** The bounded label values every series is created with, so that dashboards never show "no data". */
export const labelValues = {
  eventTypes: ["turn.completed", "session.ended", "case.closed", "extraction.completed"],
  eventResults: ["applied", "duplicate", "ignored", "dlq", "quarantined"],
  operations: ["session", "customer_data", "turn_record", "quarantine"],
  operationStatuses: ["success", "failure"],
  /** `NONE`: an unknown field has no definition and so no scope. */
  updateScopes: [...Scope.literals, "NONE"],
  persistentScopes: Scope.literals.filter((scope) => scope !== "SESSION"),
  isUpdate: ["true", "false", "none"],
  validationErrorTypes: [
    "type",
    "regex",
    "allowed_values",
    "min",
    "max",
    "min_length",
    "max_length"
  ] satisfies ReadonlyArray<ValidationErrorType>,
  /** The caches of the snapshot load (DESIGN 2): session state, customer data, field definitions. */
  caches: ["session", "profile", "definitions"],
  cacheResults: ["hit", "miss", "error", "fallback"],
  parkReasons: ["store_refused", "apply_failed", "session_quarantined"] satisfies ReadonlyArray<ParkReason>,
  resolutionStatuses: ["released", "dropped"],
  /** The background jobs (DESIGN 3.6) and how a tick of one ended (`skipped`: another instance had it). */
  jobs: ["expire", "orphans", "checkpoint"],
  jobStatuses: ["ok", "failed", "skipped"],
  derivationDepths: ["1", "2", "3", "4", "5+"]
} as const

/** Background jobs take from milliseconds (nothing to do) to minutes (a large backlog). */
const jobSeconds = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300]

export const makeMetrics = (options: { readonly processMetrics: boolean }) => {
  const registry = new Prom.Registry()
  if (options.processMetrics) {
    Prom.collectDefaultMetrics({ register: registry, prefix: "turnvault_" })
    for (const name of nonConformingDefaults) registry.removeSingleMetric(`turnvault_nodejs_${name}`)
  }
  const registers = [registry]
  const metrics = {
    registry,
    turnDuration: new Prom.Histogram({
      name: "turnvault_turn_processing_duration_seconds",
      help: "Time from taking a batch of events to all of its turns being durable, per turn",
      buckets: seconds,
      registers
    }),
    events: new Prom.Counter({
      name: "turnvault_events_total",
      help: "Input events by type and result (applied, duplicate, ignored, dlq, quarantined)",
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
    batchStepDuration: new Prom.Histogram({
      name: "turnvault_batch_step_duration_seconds",
      help: "Wall time of one step of a batch, by stage (repartition, stateful) and step (apply, persist, publish, commit)",
      labelNames: ["stage", "step"] as const,
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
      help: "Candidate variables by scope, update status and whether the field had a value (is_update: true, false, none when unknown or rejected)",
      labelNames: ["scope", "status", "is_update"] as const,
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
      help: "Validation errors by error type and the field's value type",
      labelNames: ["type", "value_type"] as const,
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
      labelNames: ["topic", "partition"] as const,
      registers
    }),
    committedOffsets: new Prom.Counter({
      name: "turnvault_committed_events_total",
      help: "Events whose offsets were committed (acknowledged) after they were applied",
      registers
    }),
    repartitionedEvents: new Prom.Counter({
      name: "turnvault_repartitioned_events_total",
      help: "Input events re-keyed by customer onto the repartition topic (and committed there)",
      registers
    }),
    replayedEvents: new Prom.Counter({
      name: "turnvault_replayed_events_total",
      help: "Events redelivered below their partition's durable offset: re-published, not applied again",
      registers
    }),
    quarantinedSessions: new Prom.Gauge({
      name: "turnvault_quarantined_sessions",
      help: "Sessions set aside on the partitions this instance owns (their events parked)",
      registers
    }),
    parkedEvents: new Prom.Counter({
      name: "turnvault_parked_events_total",
      help: "Events parked in quarantine, by reason (store_refused, apply_failed, session_quarantined)",
      labelNames: ["reason"] as const,
      registers
    }),
    quarantineResolutions: new Prom.Counter({
      name: "turnvault_quarantine_resolutions_total",
      help: "Quarantined sessions an operator released or dropped, carried out by their owner",
      labelNames: ["status"] as const,
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
    jobRuns: new Prom.Counter({
      name: "turnvault_job_runs_total",
      help: "Background job ticks on this instance, by job and status (ok, failed, skipped: another instance ran it)",
      labelNames: ["job", "status"] as const,
      registers
    }),
    jobItemsChanged: new Prom.Counter({
      name: "turnvault_job_items_changed_total",
      help: "Profile items a background job changed (expired or orphaned), by job",
      labelNames: ["job"] as const,
      registers
    }),
    jobDuration: new Prom.Histogram({
      name: "turnvault_job_duration_seconds",
      help: "Duration of one run of a background job on this instance, by job",
      labelNames: ["job"] as const,
      buckets: jobSeconds,
      registers
    }),
    jobLastSuccess: new Prom.Gauge({
      name: "turnvault_job_last_success_timestamp_seconds",
      help: "When this instance last ran the job successfully (Unix seconds; 0: not since it started)",
      labelNames: ["job"] as const,
      registers
    }),
    derivationItems: new Prom.Gauge({
      name: "turnvault_derivation_items",
      help: "Active profile items that derive from others, by derivation chain depth (1 to 4, then 5+), as of this instance's last orphan job run",
      labelNames: ["depth"] as const,
      registers
    }),
    outputsPublished: new Prom.Counter({
      name: "turnvault_outputs_published_total",
      help: "Messages published to output topics",
      labelNames: ["topic"] as const,
      registers
    })
  }
  initialiseSeries(metrics)
  return metrics
}

/** Creates every known labelled series at zero (counters) or empty (histograms). */
const initialiseSeries = (m: {
  readonly events: Prom.Counter<"event_type" | "result">
  readonly turns: Prom.Counter<"resolution">
  readonly outcomeCategories: Prom.Counter<"category">
  readonly persistenceDuration: Prom.Histogram<"operation">
  readonly persistenceOperations: Prom.Counter<"operation" | "status">
  readonly customerDataUpdates: Prom.Counter<"scope" | "status" | "is_update">
  readonly markedForPersistence: Prom.Counter<"scope">
  readonly validationErrors: Prom.Counter<"type" | "value_type">
  readonly dlqMessages: Prom.Counter<"reason">
  readonly cacheRequests: Prom.Counter<"cache" | "result">
  readonly parkedEvents: Prom.Counter<"reason">
  readonly quarantineResolutions: Prom.Counter<"status">
  readonly jobRuns: Prom.Counter<"job" | "status">
  readonly jobItemsChanged: Prom.Counter<"job">
  readonly jobDuration: Prom.Histogram<"job">
  readonly jobLastSuccess: Prom.Gauge<"job">
  readonly derivationItems: Prom.Gauge<"depth">
}) => {
  const v = labelValues
  for (const event_type of v.eventTypes)
    for (const result of v.eventResults) m.events.inc({ event_type, result }, 0)
  for (const resolution of Resolution.literals) m.turns.inc({ resolution }, 0)
  for (const category of OutcomeCategory.literals) m.outcomeCategories.inc({ category }, 0)
  for (const operation of v.operations) {
    m.persistenceDuration.zero({ operation })
    for (const status of v.operationStatuses) m.persistenceOperations.inc({ operation, status }, 0)
  }
  for (const scope of v.updateScopes)
    for (const status of UpdateStatus.literals)
      for (const is_update of v.isUpdate) m.customerDataUpdates.inc({ scope, status, is_update }, 0)
  for (const scope of v.persistentScopes) m.markedForPersistence.inc({ scope }, 0)
  for (const type of v.validationErrorTypes)
    for (const value_type of ValueType.literals) m.validationErrors.inc({ type, value_type }, 0)
  for (const reason of DlqReason.literals) m.dlqMessages.inc({ reason }, 0)
  for (const cache of v.caches) for (const result of v.cacheResults) m.cacheRequests.inc({ cache, result }, 0)
  for (const reason of v.parkReasons) m.parkedEvents.inc({ reason }, 0)
  for (const status of v.resolutionStatuses) m.quarantineResolutions.inc({ status }, 0)
  for (const job of v.jobs) {
    for (const status of v.jobStatuses) m.jobRuns.inc({ job, status }, 0)
    m.jobItemsChanged.inc({ job }, 0)
    m.jobDuration.zero({ job })
    m.jobLastSuccess.set({ job }, 0)
  }
  for (const depth of v.derivationDepths) m.derivationItems.set({ depth }, 0)
}

/** The `depth` label of `turnvault_derivation_items`: the depth, deeper chains counted as "5+". */
export const derivationDepthLabel = (depth: number): (typeof labelValues.derivationDepths)[number] =>
  depth >= 5 ? "5+" : depth <= 1 ? "1" : depth === 2 ? "2" : depth === 3 ? "3" : "4"

/** Sets `turnvault_derivation_items` from the per-depth counts of the store (every depth label). */
export const setDerivationItems = (m: MetricsService, depths: ReadonlyMap<number, number>) => {
  const byLabel = new Map<string, number>()
  for (const [depth, items] of depths) {
    const label = derivationDepthLabel(depth)
    byLabel.set(label, (byLabel.get(label) ?? 0) + items)
  }
  for (const depth of labelValues.derivationDepths) m.derivationItems.set({ depth }, byLabel.get(depth) ?? 0)
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
