/**
 * How log lines look and how many get out. JSON lines for machines (no terminal, or
 * TURNVAULT_LOG_FORMAT=json), Effect's pretty format for a person at a terminal. Either way a
 * warning repeated many times (a stream of malformed events dead-lettered) is let through a few
 * times per window and then counted: "… and 41 more "event dead-lettered" in the last 5 s", so the
 * progress line and everything else stay readable. Other levels always get through: debug and
 * info are what the log level asked for, and errors always matter.
 */
import { Cause, HashMap, type Layer, List, Logger, LogLevel } from "effect"

export type LogFormat = "json" | "pretty"

/** The format asked for (`json`, `pretty`), else pretty on a terminal and JSON lines otherwise. */
export const logFormatOf = (setting: string, isTerminal: boolean): LogFormat =>
  setting === "json" || setting === "pretty" ? setting : isTerminal ? "pretty" : "json"

export interface RepeatLimit {
  /** Length of a window (ms). */
  readonly windowMs: number
  /** Lines of one kind let through per window; the rest are counted. */
  readonly burst: number
}

export const defaultRepeatLimit: RepeatLimit = { windowMs: 5_000, burst: 3 }

/** A line's kind: its message's first part (`Effect.logWarning("event dead-lettered", why)`). */
const kindOf = (message: unknown): string => {
  const first = Array.isArray(message) ? message[0] : message
  return typeof first === "string" ? first : String(first)
}

interface Window {
  readonly started: number
  passed: number
  held: number
}

/**
 * `inner`, with warnings of one kind limited to `burst` per window. When a
 * window with lines held back has ended, the next line logged (of any kind) is preceded by one
 * saying how many. Windows are on the log's own clock (`date`), so TestClock drives them.
 */
export const withRepeatLimit = <O>(inner: Logger.Logger<unknown, O>, limit: RepeatLimit) => {
  const windows = new Map<string, Window>()
  return Logger.make<unknown, void>((options) => {
    const now = options.date.getTime()
    for (const [kind, window] of windows) {
      if (now - window.started < limit.windowMs) continue
      windows.delete(kind)
      if (window.held > 0)
        inner.log({
          ...options,
          logLevel: LogLevel.Warning,
          message: `… and ${window.held} more "${kind}" in the last ${Math.round((now - window.started) / 1000)} s`,
          // the held lines' own details are not this line's
          annotations: HashMap.empty(),
          spans: List.empty(),
          cause: Cause.empty
        })
    }
    // debug and info lines are asked for (the log level), errors always matter: warnings only
    if (options.logLevel._tag !== "Warning") {
      inner.log(options)
      return
    }
    const kind = kindOf(options.message)
    let window = windows.get(kind)
    if (window === undefined) {
      window = { started: now, passed: 0, held: 0 }
      windows.set(kind, window)
    }
    if (window.passed < limit.burst) {
      window.passed++
      inner.log(options)
    } else window.held++
  })
}

/**
 * The process's logger: the format, with repeated lines limited. The service (`start`) logs to
 * stdout, as services do; a one-shot command logs to stderr, so that its stdout is only its
 * output (JSON a script parses: a client's log line there broke `quarantine release`).
 */
export const loggerLayer = (
  format: LogFormat,
  limit: RepeatLimit = defaultRepeatLimit,
  to: "stdout" | "stderr" = "stdout"
) =>
  Logger.replace(
    Logger.defaultLogger,
    withRepeatLimit(
      format === "json"
        ? (to === "stdout" ? Logger.withConsoleLog : Logger.withConsoleError)(Logger.jsonLogger)
        : Logger.prettyLogger({ stderr: to === "stderr" }),
      limit
    )
  ) satisfies Layer.Layer<never>
