/**
 * Port: which instance runs a background job for one schedule tick (DESIGN 3.6). Time is cut into
 * ticks of the job's interval (`tick = floor(now / interval)`); the first instance to `claim`
 * (job, tick) runs it, every other claim of that pair loses, even one made after the winner has
 * finished, so a job runs at most once per tick across the cluster. A winner that fails or dies
 * leaves its tick claimed: the job runs again at the next tick (the jobs are idempotent).
 * Adapters: in memory (one process) and PostgreSQL (`job_runs`, an INSERT that only one wins).
 */
import { Context, Data, type Effect } from "effect"

export class JobLeaseError extends Data.TaggedError("JobLeaseError")<{
  readonly operation: "claim" | "finish" | "list" | "latest"
  readonly cause: unknown
}> {}

export interface JobClaim {
  readonly job: string
  readonly tick: number
  /** Who claimed it (host and process), for operators reading `job_runs`. */
  readonly instance: string
  readonly startedAt: Date
}

export type JobRunStatus = "running" | "ok" | "failed"

/** One claimed tick, as recorded. */
export interface JobRun extends JobClaim {
  readonly status: JobRunStatus
  readonly finishedAt: Date | null
  readonly itemsChanged: number | null
}

export interface JobLeasesService {
  /** True when this claim won (job, tick); false when another claim had it already. */
  readonly claim: (claim: JobClaim) => Effect.Effect<boolean, JobLeaseError>
  /** Records how the won tick ended (`itemsChanged` is null when it failed). */
  readonly finish: (
    claim: JobClaim,
    outcome: {
      readonly status: "ok" | "failed"
      readonly finishedAt: Date
      readonly itemsChanged: number | null
    }
  ) => Effect.Effect<void, JobLeaseError>
  /** The recorded runs of `job`, oldest tick first (operators, tests). */
  readonly list: (job: string) => Effect.Effect<ReadonlyArray<JobRun>, JobLeaseError>
  /** The run of `job`'s latest tick and its latest successful run (job status; reads two rows). */
  readonly latest: (
    job: string
  ) => Effect.Effect<{ readonly last: JobRun | null; readonly lastOk: JobRun | null }, JobLeaseError>
}

export class JobLeases extends Context.Tag("turnvault/JobLeases")<JobLeases, JobLeasesService>() {}
