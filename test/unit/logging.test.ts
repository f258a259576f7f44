/**
 * Log lines: the format chosen by setting and terminal, and repeated warnings limited per window
 * with a count of those held back (windows on the log's clock, so TestClock drives them).
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Logger, TestClock } from "effect"
import { logFormatOf, withRepeatLimit } from "../../src/observability/Logging"

/** A limited logger whose lines land in `lines` as "LEVEL message". */
const capture = () => {
  const lines: Array<string> = []
  const inner = Logger.make<unknown, void>(({ logLevel, message }) => {
    const parts = Array.isArray(message) ? message : [message]
    lines.push(`${logLevel.label} ${String(parts[0])}`)
  })
  const layer = Logger.replace(Logger.defaultLogger, withRepeatLimit(inner, { windowMs: 5_000, burst: 3 }))
  return { lines, layer }
}

describe("log format", () => {
  it("is what is asked, else pretty on a terminal and JSON lines elsewhere", () => {
    expect(logFormatOf("json", true)).toBe("json")
    expect(logFormatOf("pretty", false)).toBe("pretty")
    expect(logFormatOf("", true)).toBe("pretty")
    expect(logFormatOf("", false)).toBe("json")
  })
})

describe("repeated log lines", () => {
  it.effect("let a few of one kind through per window, then say how many were held back", () => {
    const { lines, layer } = capture()
    return Effect.gen(function* () {
      for (let i = 0; i < 10; i++) yield* Effect.logWarning("event dead-lettered", { i })
      yield* Effect.logWarning("offset commit failed")
      for (let i = 0; i < 4; i++) yield* Effect.logError("store refused")
      for (let i = 0; i < 4; i++) yield* Effect.logInfo("turn applied")
      expect(lines).toEqual([
        "WARN event dead-lettered",
        "WARN event dead-lettered",
        "WARN event dead-lettered",
        "WARN offset commit failed",
        // errors and the levels asked for are never held back
        "ERROR store refused",
        "ERROR store refused",
        "ERROR store refused",
        "ERROR store refused",
        "INFO turn applied",
        "INFO turn applied",
        "INFO turn applied",
        "INFO turn applied"
      ])
      // within the window nothing more; once it has ended the next line brings the count
      yield* TestClock.adjust(Duration.seconds(4))
      yield* Effect.logWarning("event dead-lettered")
      expect(lines).toHaveLength(12)
      yield* TestClock.adjust(Duration.seconds(1))
      yield* Effect.logInfo("progress")
      expect(lines.slice(12)).toEqual([
        'WARN … and 8 more "event dead-lettered" in the last 5 s',
        "INFO progress"
      ])
      // a new window lets the kind through again; a window with nothing held says nothing
      yield* Effect.logWarning("event dead-lettered")
      yield* TestClock.adjust(Duration.seconds(6))
      yield* Effect.logInfo("progress")
      expect(lines.slice(14)).toEqual(["WARN event dead-lettered", "INFO progress"])
    }).pipe(Effect.provide(layer))
  })
})
