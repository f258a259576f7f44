/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and attributes self time: by function (file:line) and by
 * component (turnvault's own code, effect, kafkajs, pg, ioredis, node internals, GC, idle).
 */
import { existsSync, readFileSync } from "node:fs"
import { SourceMap } from "node:module"
import { relative } from "node:path"
import { fileURLToPath } from "node:url"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

export interface HotSpot {
  readonly function: string
  readonly location: string
  readonly component: string
  readonly selfMs: number
  /** Share of the busy (non-idle) time. */
  readonly share: number
}

export interface ProfileSummary {
  readonly wallMs: number
  readonly busyMs: number
  readonly components: ReadonlyArray<{
    readonly component: string
    readonly selfMs: number
    readonly share: number
  }>
  readonly topTurnvault: ReadonlyArray<HotSpot>
  readonly topOverall: ReadonlyArray<HotSpot>
}

const componentOf = (url: string, name: string, root: string): string => {
  if (name === "(garbage collector)") return "gc"
  if (name === "(idle)") return "idle"
  if (name === "(program)") return "program (native, unattributed)"
  if (url === "") return "native"
  if (url.includes("/node_modules/")) {
    const pkg = url.split("/node_modules/").at(-1)!.split("/")
    return pkg[0]!.startsWith("@") ? `${pkg[0]}/${pkg[1]}` : pkg[0]!
  }
  if (url.startsWith("node:")) return "node internals"
  if (url.includes(root)) return "turnvault"
  return "other"
}

/** Bundles (esbuild, with a .map next to them) are mapped back to their original file and line. */
const sourceMaps = new Map<string, SourceMap | null>()
const original = (url: string, line: number, column: number) => {
  if (!url.startsWith("file://")) return { url, line }
  const path = fileURLToPath(url)
  let map = sourceMaps.get(path)
  if (map === undefined) {
    map = existsSync(`${path}.map`) ? new SourceMap(JSON.parse(readFileSync(`${path}.map`, "utf8"))) : null
    sourceMaps.set(path, map)
  }
  if (map === null) return { url, line }
  const entry = map.findEntry(line, column) as { originalSource?: string; originalLine?: number }
  if (entry.originalSource === undefined) return { url, line }
  const source = entry.originalSource.startsWith("file://")
    ? entry.originalSource
    : new URL(entry.originalSource, url).href
  return { url: source, line: entry.originalLine ?? line }
}

/** Bundled arrow functions lose their inferred names: take the nearest declaration in the source. */
const sourceLines = new Map<string, Array<string>>()
const declaredName = (url: string, line: number): string | undefined => {
  if (!url.startsWith("file://")) return undefined
  const path = fileURLToPath(url)
  let lines = sourceLines.get(path)
  if (lines === undefined) {
    lines = existsSync(path) ? readFileSync(path, "utf8").split("\n") : []
    sourceLines.set(path, lines)
  }
  for (let i = line; i >= Math.max(0, line - 40); i--) {
    const m =
      /(?:const|function\*?|let)\s+([A-Za-z_$][\w$]*)|^\s*(?:readonly\s+)?([A-Za-z_$][\w$]*)\s*[:=(]/.exec(
        lines[i] ?? ""
      )
    if (m !== null) return `${m[1] ?? m[2]} (≈)`
  }
  return undefined
}

export const summariseProfile = (file: string, root: string, top = 15): ProfileSummary => {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const byFunction = new Map<string, { fn: string; location: string; component: string; us: number }>()
  const byComponent = new Map<string, number>()
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame
    const { functionName } = frame
    const { url, line: lineNumber } = original(frame.url, frame.lineNumber, frame.columnNumber)
    const component = componentOf(url, functionName, root)
    byComponent.set(component, (byComponent.get(component) ?? 0) + us)
    const path = url.startsWith("file://") ? relative(root, new URL(url).pathname) : url
    const location = url === "" ? "" : `${path}:${lineNumber + 1}`
    const key = `${functionName}@${location}`
    const named =
      functionName === "" || functionName === "(anonymous)"
        ? (declaredName(url, lineNumber) ?? "(anonymous)")
        : functionName
    const entry = byFunction.get(key) ?? { fn: named, location, component, us: 0 }
    entry.us += us
    byFunction.set(key, entry)
  }
  const idle = byComponent.get("idle") ?? 0
  const total = [...byComponent.values()].reduce((a, b) => a + b, 0)
  const busy = total - idle
  const pct = (us: number) => Math.round((us / Math.max(1, busy)) * 1000) / 10
  const spots = [...byFunction.values()]
    .filter((f) => f.component !== "idle")
    .sort((a, b) => b.us - a.us)
    .map((f) => ({
      function: f.fn,
      location: f.location,
      component: f.component,
      selfMs: Math.round(f.us / 100) / 10,
      share: pct(f.us)
    }))
  return {
    wallMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    components: [...byComponent]
      .filter(([c]) => c !== "idle")
      .sort((a, b) => b[1] - a[1])
      .map(([component, us]) => ({ component, selfMs: Math.round(us / 1000), share: pct(us) })),
    topTurnvault: spots.filter((s) => s.component === "turnvault").slice(0, top),
    topOverall: spots.slice(0, top)
  }
}
