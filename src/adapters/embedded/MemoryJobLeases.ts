/** JobLeases in memory: the claims of one process (embedded mode runs a single instance). */
import { Effect, Layer } from "effect"
import { type JobClaim, JobLeases, type JobRun } from "../../ports/JobLeases"

export const make = Effect.sync(() => {
  const runs = new Map<string, JobRun>()
  const key = (claim: Pick<JobClaim, "job" | "tick">) => JSON.stringify([claim.job, claim.tick])
  const list = (job: string) =>
    [...runs.values()].filter((run) => run.job === job).sort((a, b) => a.tick - b.tick)
  return JobLeases.of({
    claim: (claim) =>
      Effect.sync(() => {
        if (runs.has(key(claim))) return false
        runs.set(key(claim), { ...claim, status: "running", finishedAt: null, itemsChanged: null })
        return true
      }),
    finish: (claim, outcome) =>
      Effect.sync(() => {
        const run = runs.get(key(claim))
        if (run !== undefined) runs.set(key(claim), { ...run, ...outcome })
      }),
    list: (job) => Effect.sync(() => list(job)),
    latest: (job) =>
      Effect.sync(() => {
        const all = list(job)
        return {
          last: all.at(-1) ?? null,
          lastOk: all.filter((run) => run.status === "ok").at(-1) ?? null
        }
      })
  })
})

export const layer = Layer.effect(JobLeases, make)
