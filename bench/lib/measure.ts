/** Small measuring helpers shared by the scenarios: clocks, percentiles, CPU and memory, results. */
import { readFileSync, writeFileSync } from "node:fs"
import { loadavg } from "node:os"

/** Wall clock in ms with sub-ms resolution, comparable across processes on one machine. */
export const wallMs = () => performance.timeOrigin + performance.now()

export const percentile = (sorted: ArrayLike<number>, p: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

export interface Distribution {
  readonly n: number
  readonly mean: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
}

export const distribution = (values: ReadonlyArray<number>): Distribution => {
  const sorted = Float64Array.from(values).sort()
  let sum = 0
  for (const v of sorted) sum += v
  return {
    n: sorted.length,
    mean: round(sum / Math.max(1, sorted.length)),
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted[sorted.length - 1] ?? Number.NaN)
  }
}

export const round = (x: number, digits = 3) => {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** Machine-wide CPU busy share between two /proc/stat readings (all processes, not just ours). */
export const machineCpu = () => {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
  const total = fields.reduce((a, b) => a + b, 0)
  return { idle, total }
}
export const busyShare = (a: ReturnType<typeof machineCpu>, b: ReturnType<typeof machineCpu>) =>
  round(1 - (b.idle - a.idle) / Math.max(1, b.total - a.total))

/** This process's CPU seconds since `start` (user + system). */
export const cpuSince = (start: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(start)
  return { user: round(d.user / 1e6), system: round(d.system / 1e6), total: round((d.user + d.system) / 1e6) }
}

export const peakRssMb = () => round(process.resourceUsage().maxRSS / 1024, 1)
export const rssMb = () => round(process.memoryUsage().rss / 1024 / 1024, 1)
export const load = () => loadavg().map((x) => round(x, 2))

/** Arguments from the runner (BENCH_ARGS, JSON) and where to write the result (BENCH_OUT). */
export const scenarioArgs = <A>(defaults: A): A => ({
  ...defaults,
  ...(JSON.parse(process.env.BENCH_ARGS ?? "{}") as Partial<A>)
})

export const writeResult = (result: unknown) => {
  const out = process.env.BENCH_OUT
  const text = JSON.stringify(result, null, 2)
  if (out === undefined) console.log(text)
  else writeFileSync(out, text)
}

export const log = (message: string) => process.stderr.write(`  · ${message}\n`)

/** A numeric benchmark parameter from the environment (BENCH_*), or its default. */
export const knob = (name: string, fallback: number) => {
  const raw = process.env[name]
  return raw === undefined ? fallback : Number(raw)
}
