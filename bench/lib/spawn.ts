/** Runs one scenario in its own Node process (own heap, CPU and peak-RSS accounting); returns its JSON. */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface SpawnOptions {
  readonly nodeFlags?: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
  readonly timeoutMs?: number
}

export const runScenario = <A>(file: string, args: unknown, options: SpawnOptions = {}): Promise<A> => {
  const dir = mkdtempSync(join(tmpdir(), "turnvault-bench-"))
  const out = join(dir, "result.json")
  return new Promise<A>((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeFlags ?? []), "--import", "tsx", file], {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, ...options.env, BENCH_OUT: out, BENCH_ARGS: JSON.stringify(args) }
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 600_000)
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      try {
        if (code !== 0) throw new Error(`${file} exited with ${code ?? signal}`)
        resolve(JSON.parse(readFileSync(out, "utf8")) as A)
      } catch (error) {
        reject(error)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  })
}

/** Runs a command and returns its stdout (for the existing profile-cache benchmark and the CPU profile). */
export const runCommand = (
  command: string,
  argv: ReadonlyArray<string>,
  options: { readonly env?: Readonly<Record<string, string>>; readonly timeoutMs?: number } = {}
) =>
  new Promise<string>((resolve, reject) => {
    // An empty value unsets the variable (turnvault reads a set-but-empty DATABASE_URL as a URL).
    const env: Record<string, string | undefined> = { ...process.env, ...options.env }
    for (const [key, value] of Object.entries(options.env ?? {})) if (value === "") delete env[key]
    const child = spawn(command, [...argv], { stdio: ["ignore", "pipe", "inherit"], env })
    let stdout = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 600_000)
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(stdout)
      else
        reject(
          new Error(`${command} ${argv.join(" ")} exited with ${code ?? signal}\n${stdout.slice(-2000)}`)
        )
    })
  })
