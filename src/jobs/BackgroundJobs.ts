/**
 * The background jobs over the customer context vault (DESIGN 3.6): `expire` (active fields past
 * their `expires_at` become expired) and `orphans` (active items whose source is gone become
 * orphaned). Both are one idempotent store statement; running one twice, or on two instances at
 * once, changes each row once. `runJob` runs one now and measures it; JobScheduler decides when.
 */
import { Clock, Effect } from "effect"
import { Metrics, setDerivationItems } from "../observability/Metrics"
import { type ChangedItem, ProfileStore } from "../ports/ProfileStore"

export const JOB_NAMES = ["expire", "orphans"] as const
export type JobName = (typeof JOB_NAMES)[number]

export const isJobName = (name: string | undefined): name is JobName => JOB_NAMES.some((job) => job === name)

/** What one run did: printed by `turnvault jobs run`, logged by the scheduler. */
export interface JobSummary {
  readonly job: JobName
  readonly items_changed: number
  /** Distinct (tenant, customer) pairs among the changed items. */
  readonly customers: number
  readonly duration_ms: number
  readonly ran_at: string
}

const customersOf = (items: ReadonlyArray<ChangedItem>) =>
  new Set(items.map((item) => JSON.stringify([item.tenant_id, item.customer_id]))).size

/**
 * Runs `job` once on the configured stores and records it in the job metrics (items changed,
 * duration, last success; `turnvault_job_runs_total` ok or failed). Answers the changed items too,
 * for the caller to take them out of resident snapshots.
 */
export const runJob = Effect.fn("BackgroundJobs.runJob")(function* (job: JobName) {
  const store = yield* ProfileStore
  const metrics = yield* Metrics
  const started = yield* Clock.currentTimeMillis
  const changed = yield* (job === "expire" ? store.expireStale(new Date(started)) : store.markOrphans()).pipe(
    Effect.tapError(() => Effect.sync(() => metrics.jobRuns.inc({ job, status: "failed" })))
  )
  // the orphan job also measures how deep the vault's derivations go (turnvault_derivation_items)
  if (job === "orphans") setDerivationItems(metrics, yield* store.derivationDepths())
  const finished = yield* Clock.currentTimeMillis
  metrics.jobRuns.inc({ job, status: "ok" })
  metrics.jobItemsChanged.inc({ job }, changed.length)
  metrics.jobDuration.observe({ job }, (finished - started) / 1000)
  metrics.jobLastSuccess.set({ job }, finished / 1000)
  const summary: JobSummary = {
    job,
    items_changed: changed.length,
    customers: customersOf(changed),
    duration_ms: finished - started,
    ran_at: new Date(started).toISOString()
  }
  return { summary, changed }
})
