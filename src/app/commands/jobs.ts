/**
 * The background jobs from the command line: `turnvault jobs run expire|orphans` runs one now on
 * the configured stores (the manual fallback when the schedule is off, or to catch up at once),
 * and `start` runs them on their schedule. A manual run claims no tick: the jobs are idempotent,
 * so it may overlap a scheduled run (each row changes once), and the schedule goes on unchanged.
 */
import { Effect } from "effect"
import { hostname } from "node:os"
import type { AppConfig } from "../../config/AppConfig"
import { type JobName, runJob } from "../../jobs/BackgroundJobs"
import {
  type ClaimedJob,
  type JobSchedulerConfig,
  runSchedules,
  runSnapshotSweeps
} from "../../jobs/JobScheduler"
import { ItemChanges } from "../../ports/ItemChanges"

/** The schedule of `start`: this process's name in `job_runs`, and the configured intervals. */
export const jobSchedulerConfig = (config: AppConfig): JobSchedulerConfig => ({
  instance: `${hostname()}:${process.pid}`,
  intervalsMs: { expire: config.jobExpireIntervalMs, orphans: config.jobOrphansIntervalMs }
})

/**
 * The jobs on their schedule in `start` (and `more`: the audit checkpoint when it has a key).
 * TURNVAULT_JOBS=false switches them off here; the instance then only sweeps its own actors'
 * snapshots of values other instances expire.
 */
export const scheduledJobs = <R = never>(config: AppConfig, more: ReadonlyArray<ClaimedJob<R>> = []) =>
  config.jobsEnabled
    ? runSchedules(jobSchedulerConfig(config), more)
    : Effect.zipRight(
        Effect.logInfo("background jobs are off on this instance (TURNVAULT_JOBS=false)"),
        runSnapshotSweeps(jobSchedulerConfig(config))
      )

/**
 * `turnvault jobs run <job>`: runs it once now; answers its summary. Orphaned rows are announced
 * on ItemChanges, as the scheduled run does, so running instances drop them from their actors.
 */
export const runJobNow = (job: JobName) =>
  Effect.gen(function* () {
    const { summary, changed } = yield* runJob(job)
    if (job === "orphans") yield* Effect.flatMap(ItemChanges, (changes) => changes.publish(changed))
    return summary
  })
