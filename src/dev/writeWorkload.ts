/**
 * `turnvault generate`: writes a synthetic DEFS.json, REQS.json and EVENTS.jsonl for `process` and
 * benchmarks.
 */
import { Data, Effect } from "effect"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { syntheticDefinitions, syntheticRequirements } from "./definitions"
import { defaultTrafficOptions, makeSyntheticTraffic, type TrafficOptions } from "./SyntheticTraffic"

/** The workload directory or one of its files could not be written. */
export class WorkloadWriteError extends Data.TaggedError("WorkloadWriteError")<{
  readonly dir: string
  readonly cause: unknown
}> {}

export const writeWorkload = (dir: string, lines: number, options: Partial<TrafficOptions> = {}) =>
  Effect.tryPromise({
    try: async () => {
      const traffic = makeSyntheticTraffic({ ...defaultTrafficOptions, ...options })
      await mkdir(dir, { recursive: true })
      const events = Array.from({ length: lines }, () => traffic.next().value)
      await writeFile(
        join(dir, "defs.json"),
        JSON.stringify(syntheticDefinitions(traffic.tenants, traffic.agents), null, 2)
      )
      await writeFile(
        join(dir, "reqs.json"),
        JSON.stringify(syntheticRequirements(traffic.tenants, traffic.agents), null, 2)
      )
      await writeFile(join(dir, "events.jsonl"), events.join("\n") + "\n")
      return {
        definitions: join(dir, "defs.json"),
        requirements: join(dir, "reqs.json"),
        input: join(dir, "events.jsonl"),
        lines
      }
    },
    catch: (cause) => new WorkloadWriteError({ dir, cause })
  })
