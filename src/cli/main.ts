/**
 * The composition root: parses the command line, assembles layers from the configuration and
 * runs the chosen program. The only file that runs effects.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Logger, LogLevel, Option } from "effect"
import { parseArgs } from "node:util"
import { embeddedLogLayer, pipelineLayer, storesLayer } from "../app/layers"
import { AppConfig } from "../config/AppConfig"
import { HttpLive, Readiness } from "../http/HttpApi"
import { Metrics } from "../telemetry/Metrics"
import { exportStores } from "./exportStores"
import { CliInputError, importDefinitions, processFile } from "./processFile"
import { startService } from "./startService"

const USAGE = `usage: turnvault <command>
  start                                   run the service (embedded defaults: synthetic traffic)
  process --definitions F --input F --export DIR
                                          run a file of events and export the stores
  definitions import DEFS.json            upsert field definitions into the configured store
  export --export DIR                     export sessions, profile fields and turn records`

const { positionals, values } = parseArgs({
  allowPositionals: true,
  strict: false,
  options: {
    definitions: { type: "string" },
    input: { type: "string" },
    export: { type: "string" },
    help: { type: "boolean" }
  }
})

const required = (name: string) => {
  const value = values[name]
  return typeof value === "string" && value.length > 0
    ? Effect.succeed(value)
    : Effect.fail(new CliInputError({ message: `--${name} is required\n${USAGE}` }))
}

const program = Effect.gen(function* () {
  const config = yield* AppConfig
  if (Option.isSome(config.kafkaBrokers)) {
    yield* Effect.logWarning(
      "KAFKA_BROKERS is set but the Kafka adapter is not built yet: using the embedded log"
    )
  }
  const stores = storesLayer(config)
  const log = embeddedLogLayer(config)
  const pipeline = pipelineLayer(config).pipe(Layer.provideMerge(Layer.mergeAll(stores, log)))
  const [command, sub, arg] = positionals
  switch (command) {
    case "start": {
      const service = startService(config).pipe(
        Effect.provide(
          Layer.merge(pipeline, HttpLive(config.httpPort).pipe(Layer.provide(Readiness.alwaysReady)))
        )
      )
      return yield* service
    }
    case "process": {
      const options = {
        definitions: yield* required("definitions"),
        input: yield* required("input"),
        exportDir: yield* required("export")
      }
      const summary = yield* processFile(options).pipe(Effect.provide(pipeline))
      return yield* Console.log(JSON.stringify(summary))
    }
    case "definitions": {
      if (sub !== "import" || arg === undefined) return yield* new CliInputError({ message: USAGE })
      const summary = yield* importDefinitions(arg).pipe(Effect.provide(stores))
      return yield* Console.log(JSON.stringify(summary))
    }
    case "export": {
      const summary = yield* exportStores(yield* required("export")).pipe(Effect.provide(stores))
      return yield* Console.log(JSON.stringify(summary))
    }
    default:
      return yield* Console.log(USAGE)
  }
})

const logLevel = (name: string) =>
  LogLevel.allLevels.find((l) => l.label.toLowerCase() === name.toLowerCase())

program.pipe(
  Effect.catchTag("CliInputError", (e) =>
    Console.error(e.message).pipe(
      Effect.zipRight(
        Effect.sync(() => {
          process.exitCode = 2
        })
      )
    )
  ),
  Effect.provide(Metrics.layer()),
  Effect.provide(Logger.json),
  Logger.withMinimumLogLevel(logLevel(process.env.TURNVAULT_LOG_LEVEL ?? "info") ?? LogLevel.Info),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
