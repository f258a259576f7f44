/**
 * Where turnvault is installed: the folder holding its package.json, found by walking up from this
 * module. The same answer from the sources (src/config/), from the built bundle (dist/) and from
 * an npm install (node_modules/turnvault/dist/), so the files read at run time (migrations/, ui/,
 * package.json) are found wherever the code runs from.
 */
import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const isOurs = (dir: string) => {
  const manifest = join(dir, "package.json")
  if (!existsSync(manifest)) return false
  try {
    return (JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown }).name === "turnvault"
  } catch {
    return false
  }
}

const find = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (isOurs(dir)) return dir
    const parent = dirname(dir)
    if (parent === dir) throw new Error("turnvault's package.json was not found above its code")
    dir = parent
  }
}

/** The install's root folder (absolute). */
export const installRoot: string = find()

/** A path below the install's root. */
export const installPath = (...parts: ReadonlyArray<string>) => join(installRoot, ...parts)
