/**
 * The service dashboard against a real Prometheus (Debian's `prometheus` package; install with
 * scripts/ci/prometheus.sh): turnvault runs `start` on its embedded defaults under synthetic load,
 * Prometheus scrapes its /metrics every second, and every PromQL expression of
 * dashboards/turnvault-overview.json, with Grafana's variables substituted, must return data
 * through Prometheus's HTTP API. `promtool check metrics` must find nothing to report on the
 * exposition.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { freePort, sleep, stopChild, waitFor } from "../support/child"

const repoRoot = resolve(import.meta.dirname, "..", "..")
const prometheusBin = process.env.PROMETHEUS ?? "prometheus"
const promtoolBin = process.env.PROMTOOL ?? "promtool"

const spawnLogged = (command: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) => {
  const child = spawn(command, [...args], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] })
  const output: Array<string> = []
  child.stdout?.on("data", (chunk: Buffer) => output.push(chunk.toString("utf8")))
  child.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString("utf8")))
  return { child, output }
}

/** Grafana's variables as a dashboard query sees them, for a 1 s scrape interval. */
const substitute = (expr: string) =>
  expr
    .replaceAll("$__rate_interval", "10s")
    .replaceAll("$__interval", "5s")
    .replaceAll("$__range", "5m")
    .replaceAll("$instance", ".*")

interface Panel {
  readonly title?: string
  readonly type: string
  readonly targets?: ReadonlyArray<{ readonly expr?: string }>
  readonly panels?: ReadonlyArray<Panel>
}

const dashboardQueries = async () => {
  const dashboard = JSON.parse(
    await readFile(join(repoRoot, "dashboards", "turnvault-overview.json"), "utf8")
  ) as { panels: ReadonlyArray<Panel> }
  const flat = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])])
  return flat.flatMap((panel) =>
    (panel.targets ?? []).map((t) => ({ panel: panel.title ?? "", expr: t.expr ?? "" }))
  )
}

describe("the service dashboard over a real Prometheus scrape", () => {
  let turnvault: ReturnType<typeof spawnLogged> | undefined
  let prometheus: ReturnType<typeof spawnLogged> | undefined
  let workDir = ""
  let httpPort = 0
  let promUrl = ""

  beforeAll(async () => {
    const probe = spawnSync(prometheusBin, ["--version"], { encoding: "utf8" })
    if (probe.error !== undefined || probe.status !== 0) {
      throw new Error(`${prometheusBin} is not available: run scripts/ci/prometheus.sh`)
    }
    workDir = await mkdtemp(join(tmpdir(), "turnvault-prometheus-"))
    httpPort = await freePort()
    const env = { ...process.env }
    for (const key of ["KAFKA_BROKERS", "DATABASE_URL", "REDIS_URL"]) delete env[key]
    turnvault = spawnLogged(process.execPath, ["bin/turnvault.mjs", "start"], {
      ...env,
      TURNVAULT_HTTP_PORT: String(httpPort),
      TURNVAULT_SYNTHETIC_RATE: "500",
      TURNVAULT_PARTITIONS: "4"
    })
    await waitFor(
      "turnvault /healthz",
      async () => ((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).ok ? true : undefined),
      { timeoutMs: 60_000 }
    )

    const promPort = await freePort()
    promUrl = `http://127.0.0.1:${promPort}`
    const config = join(workDir, "prometheus.yml")
    await writeFile(
      config,
      [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: turnvault",
        "    static_configs:",
        `      - targets: ["127.0.0.1:${httpPort}"]`,
        ""
      ].join("\n")
    )
    prometheus = spawnLogged(
      prometheusBin,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(workDir, "data")}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        "--log.level=warn"
      ],
      process.env
    )
    // Ready once the scrape of turnvault is up and its counters have a few samples.
    await waitFor(
      "Prometheus to scrape turnvault",
      async () => {
        const body = await query("sum(rate(turnvault_turns_total[10s])) > 0")
        return body.data.result.length > 0 ? true : undefined
      },
      { timeoutMs: 60_000 }
    )
  })

  afterAll(async () => {
    await stopChild(prometheus?.child, { graceMs: 10_000 })
    await stopChild(turnvault?.child, { graceMs: 10_000 })
    if (workDir !== "") await rm(workDir, { recursive: true, force: true })
  })

  const query = async (expr: string) => {
    const response = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`)
    const body = (await response.json()) as {
      status: string
      error?: string
      data: { resultType: string; result: ReadonlyArray<unknown> }
    }
    if (body.status !== "success") throw new Error(`${expr}: ${body.error}`)
    return body
  }

  it("promtool check metrics reports nothing on the exposition", async () => {
    const exposition = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
    const lint = spawnSync(promtoolBin, ["check", "metrics"], { input: exposition, encoding: "utf8" })
    expect(lint.error).toBeUndefined()
    expect({ status: lint.status, stdout: lint.stdout, stderr: lint.stderr }).toEqual({
      status: 0,
      stdout: "",
      stderr: ""
    })
    // Node process metrics are part of the exposition; no ids leak into labels.
    expect(exposition).toContain("turnvault_process_cpu_seconds_total")
    expect(exposition).not.toMatch(/(session|customer|turn)_id="/)
  })

  it("every PromQL expression of the dashboard returns data", async () => {
    const queries = await dashboardQueries()
    expect(queries.length).toBeGreaterThan(20)
    const empty = async () => {
      const missing: Array<string> = []
      for (const q of queries) {
        const body = await query(substitute(q.expr))
        if (body.data.result.length === 0) missing.push(`${q.panel}: ${q.expr}`)
      }
      return missing
    }
    // Some series (histograms of rare operations, rates) need a few scrapes before they answer.
    let missing = await empty()
    const deadline = Date.now() + 45_000
    while (missing.length > 0 && Date.now() < deadline) {
      await sleep(1_000)
      missing = await empty()
    }
    expect(missing).toEqual([])
  })

  it("the instance variable's label query finds the scraped target", async () => {
    const response = await fetch(
      `${promUrl}/api/v1/label/instance/values?match[]=${encodeURIComponent("turnvault_turns_total")}`
    )
    const body = (await response.json()) as { data: ReadonlyArray<string> }
    expect(body.data).toContain(`127.0.0.1:${httpPort}`)
  })

  it("every metric named by the dashboard is in the exposition", async () => {
    const exposition = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
    const families = new Set(
      [...exposition.matchAll(/^# TYPE (\S+) (\w+)/gm)].flatMap(([, name, type]) =>
        type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!]
      )
    )
    const named = new Set(
      (await dashboardQueries()).flatMap((q) =>
        [...q.expr.matchAll(/turnvault_[a-z0-9_]+/g)].map((m) => m[0])
      )
    )
    expect([...named].filter((name) => !families.has(name))).toEqual([])
  })
})
