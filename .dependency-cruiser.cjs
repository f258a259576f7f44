/**
 * The arrows between folders (docs/ARCHITECTURE.md), checked by `npm run deps` in CI. Each rule's
 * name says the rule; a violation prints the rule's name and the offending import.
 *
 *   schemas ← domain ← ports ← sessions ← batch ← streams ← app
 *                                   ↑ jobs ─────────────────────┘
 *                        ↑ ingest (worker core) ────────────────────┘
 *                        ↑ privacy (store decorators) ──────────────┘
 *                        ↑ observability ↑                    ↑
 *                        └──── adapters/{embedded,file,kafka,llm,postgres,redis} ┘
 *
 * Type-only imports count like any other (`tsPreCompilationDeps`): a type is an arrow too.
 */

/** Node builtins (`node:fs`) have no path to exclude; npm packages are excluded by `node_modules`. */
const notBuiltin = { dependencyTypesNot: ["core"] }

/** Folders below the core flow may not reach up into it (one rule per folder, so no folder cycle). */
const mustNotImport = (name, comment, from, folders) => ({
  name,
  comment,
  severity: "error",
  from: { path: `^${from}/` },
  to: { path: `^(${folders.join("|")})/` }
})

module.exports = {
  forbidden: [
    {
      name: "domain-imports-only-schemas",
      comment:
        "src/domain is pure rules: it may import src/domain, schemas/, npm packages and node builtins, nothing else of ours.",
      severity: "error",
      from: { path: "^src/domain/" },
      to: { pathNot: ["^src/domain/", "^schemas/", "(^|/)node_modules/"], ...notBuiltin }
    },
    {
      name: "adapter-not-another-adapter",
      comment:
        "src/adapters/X never imports src/adapters/Y: a helper two adapters need belongs in src/domain or src/ports.",
      severity: "error",
      from: { path: "^src/adapters/([^/]+)/" },
      to: { path: "^src/adapters/", pathNot: "^src/adapters/$1/" }
    },
    {
      name: "adapters-import-only-ports-domain-schemas-observability",
      comment:
        "An adapter implements ports: it imports its own folder, src/ports, src/domain, schemas/ and src/observability (metrics), never the core flow (sessions, batch, streams), config (but where the install is: src/config/installRoot.ts) or the app.",
      severity: "error",
      from: { path: "^src/adapters/([^/]+)/" },
      to: {
        pathNot: [
          "^src/adapters/$1/",
          "^src/(ports|domain|observability)/",
          "^src/config/installRoot\\.ts$",
          "^schemas/",
          "(^|/)node_modules/"
        ],
        ...notBuiltin
      }
    },
    {
      // One regex pair instead of two rules: the group captures the importer's top folder, and
      // `pathNot` lets streams/ import streams/ (and src/... import src/ other than src/app).
      name: "only-app-imports-streams-and-app",
      comment:
        "streams/ (the topology) and src/app (the composition root) sit on top: nothing outside src/app imports them, except streams/ importing streams/.",
      severity: "error",
      from: { path: "^(streams|src|schemas)/", pathNot: "^src/app/" },
      to: { path: "^(streams|src/app)/", pathNot: "^$1/(?!app/)" }
    },
    {
      name: "nothing-imports-sdk",
      comment:
        "sdk/ (the producer SDK, the package's turnvault/producer) is an entry point like src/app: nothing of ours imports it.",
      severity: "error",
      from: { path: "^(src|streams|schemas)/" },
      to: { path: "^sdk/" }
    },
    mustNotImport(
      "no-folder-cycles-schemas",
      "schemas/ is the wire contract: it imports nothing from src/ or streams/.",
      "schemas",
      ["src", "streams"]
    ),
    mustNotImport(
      "no-folder-cycles-ports",
      "src/ports are interfaces the core depends on: they must not import sessions, batch, streams, adapters, observability, dev or the app.",
      "src/ports",
      [
        "src/jobs",
        "src/sessions",
        "src/batch",
        "streams",
        "src/adapters",
        "src/observability",
        "src/dev",
        "src/app"
      ]
    ),
    mustNotImport(
      "no-folder-cycles-observability",
      "src/observability (metrics, telemetry, HTTP health) sits below the flow: it must not import sessions, batch, streams, adapters, dev or the app (adapters supply their health checks).",
      "src/observability",
      ["src/jobs", "src/sessions", "src/batch", "streams", "src/adapters", "src/dev", "src/app"]
    ),
    mustNotImport(
      "no-folder-cycles-sessions",
      "src/sessions (resident session state) must not import batch, streams, adapters, dev or the app.",
      "src/sessions",
      ["src/jobs", "src/batch", "streams", "src/adapters", "src/dev", "src/app"]
    ),
    mustNotImport(
      "no-folder-cycles-jobs",
      "src/jobs (background jobs and their schedule) runs on ports, sessions and observability: it must not import batch, streams, adapters, dev or the app.",
      "src/jobs",
      ["src/batch", "streams", "src/adapters", "src/dev", "src/app"]
    ),
    mustNotImport(
      "no-folder-cycles-ingest",
      "src/ingest (the memory-ingestion worker's core) runs on ports, domain and observability: it must not import the turn flow (sessions, batch, streams), adapters, jobs, dev or the app.",
      "src/ingest",
      ["src/jobs", "src/sessions", "src/batch", "streams", "src/adapters", "src/dev", "src/app"]
    ),
    mustNotImport(
      "no-folder-cycles-privacy",
      "src/privacy (decorators of store ports: sealing) runs on ports, domain and observability: it must not import the turn flow, adapters, jobs, ingest, dev or the app.",
      "src/privacy",
      ["src/jobs", "src/ingest", "src/sessions", "src/batch", "streams", "src/adapters", "src/dev", "src/app"]
    ),
    mustNotImport(
      "no-folder-cycles-batch",
      "src/batch (one batch, no transport) must not import streams, adapters, dev or the app.",
      "src/batch",
      ["src/jobs", "streams", "src/adapters", "src/dev", "src/app"]
    ),
    mustNotImport(
      "no-folder-cycles-config",
      "src/config reads the environment: it must not import the flow, adapters, observability, dev or the app.",
      "src/config",
      [
        "src/ports",
        "src/sessions",
        "src/batch",
        "streams",
        "src/adapters",
        "src/observability",
        "src/dev",
        "src/app"
      ]
    ),
    mustNotImport(
      "no-folder-cycles-dev",
      "src/dev (synthetic traffic) builds events from schemas and domain: it must not import the flow, adapters or the app.",
      "src/dev",
      ["src/jobs", "src/sessions", "src/batch", "streams", "src/adapters", "src/app"]
    ),
    {
      name: "no-circular",
      comment: "No module-level import cycle (type-only imports included).",
      severity: "error",
      from: {},
      to: { circular: true }
    },
    {
      name: "not-to-unresolvable",
      comment: "Every import resolves (else the rules above could not see where it points).",
      severity: "error",
      from: {},
      to: { couldNotResolve: true }
    }
  ],
  options: {
    doNotFollow: { path: "(^|/)node_modules/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"]
    },
    reporterOptions: { text: { highlightFocused: true } }
  }
}
