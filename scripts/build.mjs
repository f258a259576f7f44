// `npm run build`: the CLI and service as one JavaScript bundle, dist/turnvault.mjs, that
// bin/turnvault.mjs runs. Effect and @effect/* are bundled: their barrel modules import every
// module they have, which costs over a second at start-up, and a bundle keeps only what is used.
// Every other package stays external (mostly CommonJS, installed beside the bundle). esbuild
// only strips types; `npm run typecheck` is what checks them.
import { build } from "esbuild"

const bundled = (name) => name === "effect" || name.startsWith("effect/") || name.startsWith("@effect/")

/** Bare imports (a package, not a path) of anything but Effect are left to Node at run time. */
const otherPackagesExternal = {
  name: "other-packages-external",
  setup(builder) {
    builder.onResolve({ filter: /^[^./]/ }, (args) =>
      bundled(args.path) ? undefined : { path: args.path, external: true }
    )
  }
}

await build({
  entryPoints: ["src/app/main.ts"],
  outfile: "dist/turnvault.mjs",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  plugins: [otherPackagesExternal],
  // stack traces can name src/ files and lines (TURNVAULT_SOURCE_MAPS=1: bin enables source maps)
  sourcemap: "linked",
  keepNames: true,
  logLevel: "warning"
})
