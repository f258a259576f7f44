// `npm run build:lib` (run by `npm pack`): the library entry points of the package,
// `turnvault/producer` (sdk/producer.ts) and `turnvault/schemas` (schemas/index.ts), as ES modules
// with one bundled declaration file each. Unlike the CLI bundle (scripts/build.mjs) every package
// stays external, Effect included: a consumer's `Schema` must be the same module as ours.
// dts-bundle-generator inlines our own declarations, so a consumer resolving with `node16`,
// `nodenext` or `bundler` finds every type without the relative paths of our sources.
import { writeFileSync } from "node:fs"
import { generateDtsBundle } from "dts-bundle-generator"
import { build } from "esbuild"

const entries = [
  { source: "sdk/producer.ts", name: "producer" },
  { source: "schemas/index.ts", name: "schemas" }
]

await build({
  entryPoints: Object.fromEntries(entries.map((e) => [e.name, e.source])),
  outdir: "dist",
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  packages: "external",
  sourcemap: "linked",
  keepNames: true,
  logLevel: "warning"
})

// `noCheck`: `npm run typecheck` checks the sources; this only writes their declarations.
const declarations = generateDtsBundle(
  entries.map((e) => ({ filePath: e.source, noCheck: true })),
  { preferredConfigPath: "tsconfig.json" }
)
for (const [i, e] of entries.entries()) writeFileSync(`dist/${e.name}.d.ts`, declarations[i])
