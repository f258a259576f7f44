/**
 * Start-up of `turnvault start` on embedded defaults, side by side: the built bundle
 * (dist/turnvault.mjs, what bin runs after `npm run build`) and the TypeScript sources through
 * tsx's loader (TURNVAULT_FROM_SOURCE=1, what bin ran before there was a build). For each, from
 * spawning the process: the first `/healthz` answer, and the first committed batch (the
 * committed-events counter on `/metrics` above zero). One run, one machine; not a timed test.
 *
 *   npm run build && npx tsx bench/startup.bench.ts
 *
 * Knobs (environment): BENCH_RUNS (5 per variant, alternating), BENCH_PORT (9481).
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { performance } from "node:perf_hooks"
import { knob } from "./lib/measure"

const runs = knob("BENCH_RUNS", 5)
const port = knob("BENCH_PORT", 9481)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `path` every 10 ms until `ok` says yes; the ms since `t0`. */
const until = async (t0: number, path: string, ok: (body: string, status: number) => boolean) => {
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}${path}`)
      if (ok(await response.text(), response.status)) return performance.now() - t0
    } catch {
      // not listening yet
    }
    if (performance.now() - t0 > 60_000) throw new Error(`${path} not ready after 60 s`)
    await sleep(10)
  }
}

const committed = (metrics: string) =>
  metrics
    .split("\n")
    .filter((line) => line.startsWith("turnvault_committed_events_total"))
    .some((line) => Number(line.split(" ").pop()) > 0)

const once = async (fromSource: boolean) => {
  const t0 = performance.now()
  const child = spawn(process.execPath, ["bin/turnvault.mjs", "start"], {
    env: {
      ...process.env,
      TURNVAULT_HTTP_PORT: String(port),
      TURNVAULT_LOG_FORMAT: "json",
      TURNVAULT_FROM_SOURCE: fromSource ? "1" : "0"
    },
    stdio: "ignore"
  })
  try {
    const healthz = await until(t0, "/healthz", (_, status) => status === 200)
    const batch = await until(t0, "/metrics", (body) => committed(body))
    return { healthz, batch }
  } finally {
    child.kill("SIGTERM")
    await new Promise((resolve) => child.once("exit", resolve))
  }
}

const median = (values: ReadonlyArray<number>) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

if (!existsSync("dist/turnvault.mjs")) throw new Error("run `npm run build` first")
type Timing = { readonly healthz: number; readonly batch: number }
const results: { built: Array<Timing>; source: Array<Timing> } = { built: [], source: [] }
for (let i = 0; i < runs; i++) {
  results.built.push(await once(false))
  results.source.push(await once(true))
}
console.log(
  `turnvault start on embedded defaults, ${runs} runs each, median (min-max), Node ${process.version}`
)
console.log("| bin runs | to /healthz ms | to first committed batch ms |")
console.log("|---|---|---|")
for (const [name, list] of [
  ["dist/turnvault.mjs (built)", results.built],
  ["src through tsx (TURNVAULT_FROM_SOURCE=1)", results.source]
] as const) {
  const cell = (pick: (r: { healthz: number; batch: number }) => number) => {
    const values = list.map(pick)
    return `${median(values).toFixed(0)} (${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)})`
  }
  console.log(`| ${name} | ${cell((r) => r.healthz)} | ${cell((r) => r.batch)} |`)
}
