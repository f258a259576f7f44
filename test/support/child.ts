/**
 * Small helpers for tests that run turnvault or another server as a child process: a free port
 * to give it, a bounded wait for it to reach some state, and a bounded stop. Every test that
 * talks to a real process uses these, so a fix to one of them reaches all.
 */
import type { ChildProcess } from "node:child_process"
import { createServer } from "node:net"

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms))

/** A free loopback port (asked of the OS, then released). */
export const freePort = (): Promise<number> =>
  new Promise((done, fail) => {
    const server = createServer()
    server.unref()
    server.once("error", fail)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => done(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

export interface WaitForOptions {
  readonly timeoutMs: number
  /** Pause between two probes (default 250 ms). */
  readonly intervalMs?: number
  /** Appended to the timeout error: what was seen, the child's logs. */
  readonly describe?: () => string
}

/**
 * Polls `probe` until it returns a value other than undefined and returns that value; fails after
 * `timeoutMs`. A probe that throws counts as "not yet" (the last error is in the timeout message).
 */
export const waitFor = async <A>(
  what: string,
  probe: () => Promise<A | undefined> | A | undefined,
  options: WaitForOptions
): Promise<A> => {
  const deadline = Date.now() + options.timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) {
      const extra = options.describe?.() ?? ""
      throw new Error(
        `timed out after ${options.timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ""}${extra ? `\n${extra}` : ""}`
      )
    }
    await sleep(options.intervalMs ?? 250)
  }
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

/**
 * Stops a child process and resolves once it has exited: SIGTERM (after SIGCONT, so that a child
 * frozen with SIGSTOP can handle it), then SIGKILL if it is still running after `graceMs`. A child
 * that never started or has already exited is left alone.
 */
export const stopChild = async (
  child: ChildProcess | undefined,
  options: { readonly graceMs: number }
): Promise<void> => {
  if (child === undefined || child.pid === undefined || hasExited(child)) return
  const exited = new Promise<void>((done) => child.once("exit", () => done()))
  child.kill("SIGCONT")
  child.kill("SIGTERM")
  const timer = setTimeout(() => child.kill("SIGKILL"), options.graceMs)
  try {
    await exited
  } finally {
    clearTimeout(timer)
  }
}
