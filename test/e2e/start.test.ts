/**
 * `npm start` on embedded defaults: progress within seconds, /metrics answers, and SIGTERM stops
 * consuming, lets in-flight batches finish and exits cleanly.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { freePort, sleep, waitFor } from "../support/child"

const bin = join(import.meta.dirname, "..", "..", "bin", "turnvault.mjs")

let child: ChildProcess | undefined
afterAll(() => {
  child?.kill("SIGKILL")
})

describe("turnvault start (embedded defaults)", () => {
  it("prints progress, serves /metrics and /healthz, and stops cleanly on SIGTERM", async () => {
    const port = await freePort()
    let stdout = ""
    child = spawn(process.execPath, [bin, "start"], {
      env: { ...process.env, TURNVAULT_HTTP_PORT: String(port), TURNVAULT_LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    child.stdout?.on("data", (d) => {
      stdout += d
    })
    const exited = new Promise<number | null>((resolve) => child?.on("exit", (code) => resolve(code)))

    await waitFor("a progress line", () => (/turns\/s=\d+ turns=[1-9]\d*/.test(stdout) ? true : undefined), {
      timeoutMs: 90_000,
      intervalMs: 200
    })
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    expect(metrics).toMatch(/turnvault_turns_total\{resolution="RESOLVED"\} [1-9]/)
    expect(metrics).toContain("turnvault_persistence_duration_seconds_bucket")
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)

    child.kill("SIGTERM")
    const code = await Promise.race([exited, sleep(30_000).then(() => "timeout")])
    expect(code).toBe(0)
    expect(stdout).toContain("turnvault stopped")
    expect(stdout).not.toContain('"logLevel":"ERROR"')
  })
})
