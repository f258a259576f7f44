/**
 * The real binary's conventions: `--version`, `--help` of a command (exit 0, on stdout), and a
 * mistyped command or flag (exit 2, a short message and the usage on stderr, nothing run).
 */
import { describe, expect, it } from "vitest"
import { readFileSync } from "node:fs"
import { runCli } from "../support/cli"

const version = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string
  }
).version

describe("turnvault command line", () => {
  it("prints its version and a command's help, exit 0", async () => {
    const v = await runCli(["--version"])
    expect([v.code, v.stdout.trim()]).toEqual([0, `turnvault ${version}`])
    const help = await runCli(["keys", "--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("keys create --tenant T")
    expect(help.stdout).not.toContain("quarantine")
  }, 30_000)

  it("refuses an unknown command or flag with exit 2, before touching any store", async () => {
    const command = await runCli(["strat"])
    expect([command.code, command.stdout]).toEqual([2, ""])
    expect(command.stderr).toContain("unknown command 'strat'")
    expect(command.stderr).toContain("usage: turnvault <command>")
    // a database that does not exist: the mistake is reported before any connection is tried
    const flag = await runCli(["verify", "--tenat", "t"], { DATABASE_URL: "postgres://127.0.0.1:1/none" })
    expect(flag.code).toBe(2)
    expect(flag.stderr).toContain("unknown flag --tenat")
    expect(flag.stderr).not.toMatch(/ECONNREFUSED|connect/)
  }, 30_000)
})
