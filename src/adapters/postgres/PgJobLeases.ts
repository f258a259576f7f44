/**
 * JobLeases on PostgreSQL (table `job_runs`, primary key (job, tick)). A claim is one
 * `INSERT ... ON CONFLICT DO NOTHING`: the primary key lets exactly one instance's row in, however
 * close together the instances wake, and the row stays, so an instance waking after the winner
 * finished loses too (an advisory lock, released at the end of the run, would let it run again).
 */
import { Effect, Layer } from "effect"
import {
  type JobClaim,
  JobLeaseError,
  JobLeases,
  type JobRun,
  type JobRunStatus
} from "../../ports/JobLeases"
import { PgClient } from "./PgClient"

const CLAIM = `
INSERT INTO job_runs (job, tick, instance, started_at, status)
VALUES ($1, $2, $3, $4, 'running')
ON CONFLICT (job, tick) DO NOTHING`

const FINISH = `
UPDATE job_runs SET status = $3, finished_at = $4, items_changed = $5
WHERE job = $1 AND tick = $2`

const LIST = `
SELECT job, tick, instance, started_at, status, finished_at, items_changed
FROM job_runs WHERE job = $1 ORDER BY tick`

/** The latest tick's run and the latest successful one (each an index scan of the primary key). */
const LATEST = `
(SELECT 'last' AS kind, job, tick, instance, started_at, status, finished_at, items_changed
 FROM job_runs WHERE job = $1 ORDER BY tick DESC LIMIT 1)
UNION ALL
(SELECT 'ok' AS kind, job, tick, instance, started_at, status, finished_at, items_changed
 FROM job_runs WHERE job = $1 AND status = 'ok' ORDER BY tick DESC LIMIT 1)`

interface RunRow {
  readonly job: string
  readonly tick: string
  readonly instance: string
  readonly started_at: Date
  readonly status: JobRunStatus
  readonly finished_at: Date | null
  readonly items_changed: number | null
}

const runOf = (row: RunRow): JobRun => ({
  job: row.job,
  tick: Number(row.tick),
  instance: row.instance,
  startedAt: row.started_at,
  status: row.status,
  finishedAt: row.finished_at,
  itemsChanged: row.items_changed
})

export const make = Effect.map(PgClient, (pg) => {
  const sql = <R extends object>(
    operation: "claim" | "finish" | "list" | "latest",
    text: string,
    params: ReadonlyArray<unknown>
  ) =>
    Effect.mapError(
      pg.query<R & Record<string, unknown>>(text, params),
      (error) => new JobLeaseError({ operation, cause: error.cause })
    )
  return JobLeases.of({
    claim: (claim: JobClaim) =>
      Effect.map(
        sql("claim", CLAIM, [claim.job, claim.tick, claim.instance, claim.startedAt]),
        (result) => result.rowCount === 1
      ),
    finish: (claim, outcome) =>
      Effect.asVoid(
        sql("finish", FINISH, [
          claim.job,
          claim.tick,
          outcome.status,
          outcome.finishedAt,
          outcome.itemsChanged
        ])
      ),
    list: (job) => Effect.map(sql<RunRow>("list", LIST, [job]), (result) => result.rows.map(runOf)),
    latest: (job) =>
      Effect.map(sql<RunRow & { kind: "last" | "ok" }>("latest", LATEST, [job]), (result) => {
        const of = (kind: "last" | "ok") => {
          const row = result.rows.find((r) => r.kind === kind)
          return row === undefined ? null : runOf(row)
        }
        return { last: of("last"), lastOk: of("ok") }
      })
  })
})

export const layer: Layer.Layer<JobLeases, never, PgClient> = Layer.effect(JobLeases, make)
