/**
 * For CPU profiles only: tsx compiles each module so that V8 reports its functions as anonymous at
 * line 1. An esbuild bundle (packages kept external, names kept, a source map next to it) profiles
 * the same code with real names, and cpuProfile.ts maps positions back to src/ files and lines.
 */
import { build } from "esbuild"

export const bundle = async (entry: string, outfile: string) => {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    packages: "external",
    sourcemap: "external",
    keepNames: true,
    logLevel: "error"
  })
  return outfile
}
