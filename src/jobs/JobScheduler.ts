/**
 * Runs the background jobs on their schedule inside `turnvault start` (DESIGN 3.6). Time is cut
 * into ticks of each job's interval, the same on every instance (tick = floor(now / interval));
 * at each tick boundary every instance asks JobLeases for the tick and only the winner runs the
 * job, so it runs once per tick across the cluster. A failed run (or claim) is logged and counted
 * and the loop waits for the next tick: the schedule never fails and never stops the stream.
 *
 * Resident snapshots: on every expiry tick, won or not, each instance drops from its own actors'
 * snapshots the values past their `expires_at` (`ActorRegistry.expireResident`): the customer may
 * be owned by an instance that did not win the tick. The orphan job's rows are published on
 * ItemChanges, which drops them from this instance's snapshots and (with Redis) the others'.
 */
import { Cause, Clock, Duration, Effect } from "effect"
import { Metrics } from "../observability/Metrics"
import { ItemChanges } from "../ports/ItemChanges"
import { type JobClaim, JobLeases } from "../ports/JobLeases"
import { ActorRegistry } from "../sessions/ActorRegistry"
import { JOB_NAMES, type JobName, runJob } from "./BackgroundJobs"

export interface JobSchedulerConfig {
  /** Names this instance in `job_runs` (host and process). */
  readonly instance: string
  /** Each job's interval, in milliseconds. */
  readonly intervalsMs: Readonly<Record<JobName, number>>
}

/**
 * A job the schedule runs once per tick across the cluster besides expire and orphans (the audit
 * checkpoint): `work` answers how many items it covered.
 */
export interface ClaimedJob<R> {
  readonly job: string
  readonly intervalMs: number
  readonly work: Effect.Effect<number, unknown, R>
}

/** One tick of one job: sweep (expire), claim, and run it if the claim won. */
const runTick = <R>(
  config: JobSchedulerConfig,
  job: string,
  work: Effect.Effect<number, unknown, R>,
  tick: number,
  now: number
) =>
  Effect.gen(function* () {
    const leases = yield* JobLeases
    const metrics = yield* Metrics
    if (job === "expire") yield* Effect.flatMap(ActorRegistry, (registry) => registry.expireResident(now))
    const claim = { job, tick, instance: config.instance, startedAt: new Date(now) }
    if (yield* leases.claim(claim)) yield* runClaimed(claim, work)
    else metrics.jobRuns.inc({ job, status: "skipped" })
  })

/** What to log of a failure: its operation (a database error may quote a stored value), or its tag. */
const failureName = (error: unknown) =>
  typeof error === "object" && error !== null
    ? "operation" in error
      ? String(error.operation)
      : "_tag" in error
        ? String(error._tag)
        : "unknown"
    : "unknown"

/** Runs the job of a won claim and records how it went in the claim's row. */
const runClaimed = <R>(claim: JobClaim, work: Effect.Effect<number, unknown, R>) =>
  Effect.gen(function* () {
    const leases = yield* JobLeases
    const ran = yield* Effect.either(work)
    const finishedAt = new Date(yield* Clock.currentTimeMillis)
    // the run happened (or failed) either way: a record that cannot be written is only logged
    const record = (outcome: { status: "ok" | "failed"; itemsChanged: number | null }) =>
      leases.finish(claim, { ...outcome, finishedAt }).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("background job run not recorded in job_runs", {
            tick: claim.tick,
            error: error.operation
          })
        )
      )
    if (ran._tag === "Left") {
      yield* Effect.logWarning("background job failed; it runs again at the next tick", {
        tick: claim.tick,
        error: failureName(ran.left)
      })
      return yield* record({ status: "failed", itemsChanged: null })
    }
    yield* record({ status: "ok", itemsChanged: ran.right })
  })

/** expire or orphans: the orphaned rows leave the resident snapshots here and, through ItemChanges, elsewhere. */
const vaultJob = (job: JobName) =>
  Effect.gen(function* () {
    const { summary, changed } = yield* runJob(job)
    if (job === "orphans") yield* Effect.flatMap(ItemChanges, (changes) => changes.publish(changed))
    if (summary.items_changed > 0) yield* Effect.logInfo("background job ran", summary)
    return summary.items_changed
  })

/**
 * Whatever else went wrong in a tick (a claim the database refused, a defect) is logged and counted
 * as failed; only an interruption (shutdown) goes through.
 */
const survive = (job: string) =>
  Effect.catchAllCause((cause: Cause.Cause<unknown>) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.interrupt
      : Effect.flatMap(Metrics, (metrics) => {
          metrics.jobRuns.inc({ job, status: "failed" })
          return Effect.logWarning("background job tick failed; it runs again at the next tick", {
            job,
            cause: Cause.pretty(cause)
          })
        })
  )

/** `work` for ever: at once for the current tick, then at each next tick's boundary. */
const everyTick = <R>(
  interval: number,
  job: string,
  work: (tick: number, now: number) => Effect.Effect<void, unknown, R>
) =>
  Effect.suspend(() => {
    let nextTick = Number.NEGATIVE_INFINITY
    return Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const tick = Math.floor(now / interval)
      // a timer may fire a millisecond before the boundary: the tick it woke for is not here yet
      if (tick < nextTick) return yield* Effect.sleep(Duration.millis(nextTick * interval - now))
      yield* work(tick, now).pipe(survive(job))
      // a run longer than the interval goes straight on to the tick it reached
      nextTick = tick + 1
      yield* Effect.sleep(
        Duration.millis(Math.max(0, nextTick * interval - (yield* Clock.currentTimeMillis)))
      )
    }).pipe(Effect.forever)
  }).pipe(Effect.annotateLogs({ job }))

/** Every job on its schedule (and the `more` given), until interrupted. Never fails. */
export const runSchedules = <R = never>(
  config: JobSchedulerConfig,
  more: ReadonlyArray<ClaimedJob<R>> = []
) =>
  Effect.all(
    [
      ...JOB_NAMES.map(
        (job): ClaimedJob<Effect.Effect.Context<ReturnType<typeof vaultJob>> | R> => ({
          job,
          intervalMs: config.intervalsMs[job],
          work: vaultJob(job)
        })
      ),
      ...more
    ].map(({ job, intervalMs, work }) =>
      everyTick(intervalMs, job, (tick, now) => runTick(config, job, work, tick, now))
    ),
    { concurrency: "unbounded", discard: true }
  )

/**
 * With the jobs switched off on this instance (TURNVAULT_JOBS=false) another instance, or an
 * operator's `turnvault jobs run expire`, still expires rows this instance's actors may hold: it
 * keeps sweeping its own snapshots on the expiry schedule, with no claim and no store I/O.
 */
export const runSnapshotSweeps = (config: JobSchedulerConfig) =>
  everyTick(config.intervalsMs.expire, "expire", (_tick, now) =>
    Effect.asVoid(Effect.flatMap(ActorRegistry, (registry) => registry.expireResident(now)))
  )
