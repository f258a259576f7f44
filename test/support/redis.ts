/**
 * A throwaway `redis-server` on its own port, for the Redis integration tests and the cache
 * benchmark: no persistence, so a restart comes back empty (like a replaced cache node).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { freePort, stopChild } from "./child"

export interface RedisServerProcess {
  readonly port: number
  readonly url: string
  /** Starts the server (again) on the same port; resolves when it accepts connections. */
  readonly start: () => Promise<void>
  /** Stops the server (SIGTERM, SIGKILL after 10 s) and waits for it to exit. */
  readonly stop: () => Promise<void>
  readonly running: () => boolean
}

export const redisServerProcess = async (
  options: { readonly binary?: string; readonly port?: number } = {}
): Promise<RedisServerProcess> => {
  const port = options.port ?? (await freePort())
  let child: ChildProcess | null = null

  const start = () =>
    new Promise<void>((resolve, reject) => {
      if (child !== null) return resolve()
      const proc = spawn(
        options.binary ?? "redis-server",
        [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--save",
          "",
          "--appendonly",
          "no",
          "--daemonize",
          "no"
        ],
        { stdio: ["ignore", "pipe", "pipe"] }
      )
      child = proc
      let output = ""
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes("Ready to accept connections")) {
          proc.stdout?.off("data", onData)
          proc.stdout?.resume()
          resolve()
        }
      }
      proc.stdout?.on("data", onData)
      proc.stderr?.resume()
      proc.once("exit", (code) => {
        if (child === proc) child = null
        reject(new Error(`redis-server exited (${code}): ${output.slice(-500)}`))
      })
    })

  const stop = () => stopChild(child ?? undefined, { graceMs: 10_000 })

  await start()
  return { port, url: `redis://127.0.0.1:${port}`, start, stop, running: () => child !== null }
}
