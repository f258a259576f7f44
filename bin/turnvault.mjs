#!/usr/bin/env node
// Runs the built CLI, dist/turnvault.mjs (`npm run build`; `npm start` and `npm test` build first).
// A checkout whose sources are newer than the build, or that was never built, or
// TURNVAULT_FROM_SOURCE=1, runs the TypeScript sources through tsx's loader instead: slower to
// start (about 3 s), never stale.
import { existsSync, readdirSync, statSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = new URL("../", import.meta.url)
const built = fileURLToPath(new URL("dist/turnvault.mjs", root))

/** The newest modification time of the .ts files below `dir` (0 when it is absent, as in an install). */
const newest = (dir) => {
  if (!existsSync(dir)) return 0
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(".ts"))
      latest = Math.max(latest, statSync(`${entry.parentPath}/${entry.name}`).mtimeMs)
  }
  return latest
}

const fromSource =
  process.env.TURNVAULT_FROM_SOURCE === "1" ||
  !existsSync(built) ||
  Math.max(...["src", "streams", "schemas"].map((d) => newest(fileURLToPath(new URL(d, root))))) >
    statSync(built).mtimeMs

if (fromSource) {
  const { register } = await import("tsx/esm/api")
  register()
  await import(fileURLToPath(new URL("src/app/main.ts", root)))
} else {
  // the bundle's source map (12 MB) costs ~0.2 s to parse: only when asked, for stack traces
  // that name src/ files and lines (or NODE_OPTIONS=--enable-source-maps)
  if (process.env.TURNVAULT_SOURCE_MAPS === "1") process.setSourceMapsEnabled(true)
  await import(built)
}
