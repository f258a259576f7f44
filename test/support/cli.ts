/** Runs the real CLI (`bin/turnvault.mjs`) as a child process, as users and operators do. */
import { spawn } from "node:child_process"
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { syntheticDefinitions, syntheticRequirements } from "../../src/dev/definitions"
import {
  defaultTrafficOptions,
  makeSyntheticTraffic,
  type TrafficOptions
} from "../../src/dev/SyntheticTraffic"

const bin = join(import.meta.dirname, "..", "..", "bin", "turnvault.mjs")

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `turnvault ...args`; `killAfterMs` sends SIGKILL after that long (a crash). */
export const runCli = (
  args: ReadonlyArray<string>,
  env: Record<string, string> = {},
  options: { readonly killAfterMs?: number } = {}
): Promise<CliResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, TURNVAULT_LOG_LEVEL: "warning", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => {
      stdout += d
    })
    child.stderr.on("data", (d) => {
      stderr += d
    })
    const timer =
      options.killAfterMs === undefined
        ? undefined
        : setTimeout(() => child.kill("SIGKILL"), options.killAfterMs)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      if (timer !== undefined) clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })

/** A synthetic workload on disk: defs.json, reqs.json (scenario requirements) and events.jsonl. */
export const writeWorkload = async (lines: number, options: Partial<TrafficOptions> = {}) => {
  const dir = await mkdtemp(join(tmpdir(), "turnvault-workload-"))
  const traffic = makeSyntheticTraffic({
    ...defaultTrafficOptions,
    concurrentSessions: 60,
    customersPerTenant: 40,
    ...options
  })
  const events = Array.from({ length: lines }, () => traffic.next().value)
  const definitions = join(dir, "defs.json")
  const input = join(dir, "events.jsonl")
  await writeFile(definitions, JSON.stringify(syntheticDefinitions(traffic.tenants, traffic.agents)))
  const requirements = join(dir, "reqs.json")
  await writeFile(input, events.join("\n") + "\n")
  await writeFile(requirements, JSON.stringify(syntheticRequirements(traffic.tenants, traffic.agents)))
  return { dir, definitions, requirements, input, events }
}

export const readExport = async (dir: string) => {
  const read = async (name: string) =>
    (await readFile(join(dir, name), "utf8")).split("\n").filter((l) => l.length > 0)
  return {
    sessions: await read("sessions.jsonl"),
    profile: await read("profile_fields.jsonl"),
    records: await read("turn_records.jsonl"),
    history: await read("session_history.jsonl"),
    assets: await read("profile_assets.jsonl"),
    dlq: await read("dlq.jsonl").catch(() => [])
  }
}
