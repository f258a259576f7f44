/**
 * The command line's grammar (src/app/cli.ts): help and version are answered, and an unknown
 * command, subcommand or flag is a mistake naming what was wrong, before anything runs.
 */
import { describe, expect, it } from "vitest"
import { COMMANDS, checkArgs, USAGE } from "../../src/app/cli"

describe("checkArgs", () => {
  it("runs a known command with its own flags", () => {
    expect(checkArgs(["verify"], ["tenant", "session"])).toEqual({ kind: "run" })
    expect(checkArgs(["items", "delete"], ["tenant", "item", "by", "reason", "cascade"])).toEqual({
      kind: "run"
    })
    expect(checkArgs(["definitions", "import", "defs.json"], [])).toEqual({ kind: "run" })
  })

  it("answers --help for the whole tool and for each command", () => {
    expect(checkArgs([], ["help"])).toEqual({ kind: "help", text: USAGE })
    for (const command of COMMANDS) {
      const verdict = checkArgs([command.name], ["help"])
      expect(verdict.kind, command.name).toBe("help")
      expect(verdict.kind === "help" && verdict.text, command.name).toContain(command.usage)
    }
    expect(checkArgs([], ["version"])).toEqual({ kind: "version" })
  })

  it("calls a missing or unknown command, subcommand or flag a mistake, and says which", () => {
    const mistake = (positionals: Array<string>, flags: Array<string> = []) => {
      const verdict = checkArgs(positionals, flags)
      expect(verdict.kind).toBe("mistake")
      return verdict.kind === "mistake" ? verdict.message : ""
    }
    expect(mistake([])).toContain("no command given")
    expect(mistake(["strat"])).toContain("unknown command 'strat'")
    expect(mistake(["verify"], ["tenat"])).toContain("unknown flag --tenat")
    expect(mistake(["start"], ["tenant"])).toContain("unknown flag --tenant")
    expect(mistake(["migrate"])).toContain("a subcommand is needed (up, down, status)")
    expect(mistake(["keys", "frob"], ["tenant"])).toContain("unknown subcommand 'frob'")
  })

  it("lists every command in the usage text", () => {
    for (const command of COMMANDS) expect(USAGE).toContain(`  ${command.name} `)
  })
})
