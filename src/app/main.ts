/**
 * The composition root: parses the command line, assembles layers from the configuration and
 * runs the chosen program. The only file that runs effects.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { checkArgs, FLAG_TYPES, USAGE } from "./cli"
import { installPath } from "../config/installRoot"
import { topicCatalogue, topicNames } from "../../streams/topics"
import {
  embeddedLogLayer,
  fileLogLayer,
  kafkaClientLayer,
  kafkaLogLayer,
  serviceLayer,
  storesLayer,
  withTexts
} from "./layers"
import { AppConfig, LogFormatConfig } from "../config/AppConfig"
import { httpLayer } from "./adminApi"
import { consumerCheck, readinessLayer } from "../observability/Readiness"
import { makeConsumerProgress } from "../observability/ConsumerProgress"
import { ensureTopics } from "../adapters/kafka/KafkaTopics"
import { migrationStatus, postgresHealthCheck, runMigrations } from "../adapters/postgres"
import { redisHealthCheck } from "../adapters/redis"
import { writeWorkload } from "../dev/writeWorkload"
import { Metrics } from "../observability/Metrics"
import { logFormatOf, loggerLayer } from "../observability/Logging"
import { AuditStore } from "../ports/AuditStore"
import { IngestionStore } from "../ports/IngestionStore"
import { exportStores, historyRow } from "./commands/exportStores"
import { isJobName } from "../jobs/BackgroundJobs"
import { runJobNow } from "./commands/jobs"
import { CliInputError, importDefinitions, importRequirements, processFile } from "./commands/process"
import { extractRequirements } from "./commands/requirementsExtract"
import { memoryModelLayer, runIngest } from "./commands/ingest"
import { HttpLive } from "../observability/HttpApi"
import { IngestMetrics } from "../observability/IngestMetrics"
import * as OpenAiCompatible from "../adapters/llm/OpenAiCompatible"
import { startEmbedded, startKafka } from "./commands/start"
import { listQuarantine, resolveQuarantine, showQuarantine } from "./commands/quarantine"
import { verifyStores } from "./commands/verify"
import {
  listCheckpoints,
  proveTurn,
  verifyingKey,
  verifyProofFile,
  writeCheckpointNow
} from "./commands/checkpoints"
import { newKeyPair } from "../domain/checkpoint"
import { eraseCustomer } from "./commands/erase"
import * as KafkaCheckpointWitness from "../adapters/kafka/KafkaCheckpointWitness"
import { createKey, listKeys, operator, revokeKey } from "./commands/keys"
import { isKeyScope } from "../domain/apiKey"
import { deleteItem, derivedItems, fieldHistory, itemChain, shownRow, tombstones } from "./commands/items"
import type { ProfileField } from "../domain/model"

const parsed = parseArgs({
  allowPositionals: true,
  strict: false,
  tokens: true,
  options: {
    ...Object.fromEntries(Object.entries(FLAG_TYPES).map(([name, type]) => [name, { type }])),
    help: { type: "boolean", short: "h" }
  }
})
const { positionals, values } = parsed

/** `--help`, `--version` and mistakes are answered before any layer is built. */
const verdict = checkArgs(
  positionals,
  parsed.tokens.flatMap((token) => (token.kind === "option" ? [token.name] : []))
)
if (verdict.kind === "help") {
  process.stdout.write(`${verdict.text}\n`)
  process.exit(0)
}
if (verdict.kind === "version") {
  const pkg = JSON.parse(readFileSync(installPath("package.json"), "utf8")) as {
    version: string
  }
  process.stdout.write(`turnvault ${pkg.version}\n`)
  process.exit(0)
}
if (verdict.kind === "mistake") {
  process.stderr.write(`${verdict.message}\n`)
  process.exit(2)
}

const flag = (name: string) => {
  const value = values[name]
  return typeof value === "string" && value.length > 0 ? value : undefined
}
const required = (name: string) => {
  const value = flag(name)
  return value === undefined
    ? Effect.fail(new CliInputError({ message: `--${name} is required\n${USAGE}` }))
    : Effect.succeed(value)
}
const print = (value: unknown) => Console.log(JSON.stringify(value))

const needDatabase = (config: AppConfig) =>
  Option.match(config.databaseUrl, {
    onNone: () => Effect.fail(new CliInputError({ message: "DATABASE_URL is required for this command" })),
    onSome: (url) => Effect.succeed(Redacted.value(url))
  })

/**
 * Bounded shutdown of `start`. The runtime turns the first SIGTERM or SIGINT into an interruption:
 * consumption stops, in-flight batches finish (they are uninterruptible but for their pauses),
 * buffers flush and connections close. A batch stuck on a write that never returns would hold the
 * exit for ever, so the first signal also arms a deadline over the whole shutdown: past it, or on a
 * second signal more than a second later, the process exits at once, non-zero, and what did not
 * finish is not committed (it is consumed again from the committed offsets).
 */
const boundShutdown = (deadlineMs: number) =>
  Effect.sync(() => {
    let signalledAt: number | null = null
    const exitNow = (why: string) => {
      process.stderr.write(
        `${JSON.stringify({ level: "ERROR", message: `shutdown cut short: ${why}; uncommitted batches are consumed again`, timestamp: new Date().toISOString() })}\n`
      )
      process.exit(1)
    }
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalledAt !== null) {
        // `npm start` under a terminal delivers one Ctrl-C twice (to npm and to us, then forwarded)
        if (Date.now() - signalledAt > 1_000) exitNow(`second ${signal}`)
        return
      }
      signalledAt = Date.now()
      // a timer longer than 2^31 - 1 ms would fire at once
      const delay = Math.min(Math.max(deadlineMs, 0), 2 ** 31 - 1)
      setTimeout(() => exitNow(`shutdown still running after ${deadlineMs} ms`), delay).unref()
    }
    process.on("SIGTERM", onSignal)
    process.on("SIGINT", onSignal)
  })

/**
 * A one-shot command's outputs: on Kafka when KAFKA_BROKERS is set, else on the in-process log
 * (which ends with the process).
 */
const withOutputs = <A, E, R>(config: AppConfig, effect: Effect.Effect<A, E, R>) =>
  Option.match(config.kafkaBrokers, {
    onNone: () => Effect.provide(effect, embeddedLogLayer(config)),
    onSome: (brokers) => Effect.provide(effect, kafkaLogLayer(brokers, config.kafkaProducer))
  })

const runCommand = (config: AppConfig) =>
  Effect.gen(function* () {
    const stores = storesLayer(config)
    const [command, sub] = positionals
    switch (command) {
      case "start": {
        yield* boundShutdown(config.shutdownTimeoutMs)
        const progress = makeConsumerProgress()
        const readiness = (source: string) =>
          readinessLayer(
            [
              consumerCheck(source, progress, config.readyStallMs),
              ...Option.toArray(Option.map(config.databaseUrl, (url) => postgresHealthCheck(url))),
              ...Option.toArray(Option.map(config.redisUrl, (url) => redisHealthCheck(url)))
            ],
            progress
          )
        if (Option.isSome(config.kafkaBrokers)) {
          const layer = serviceLayer(config, kafkaLogLayer(config.kafkaBrokers.value, config.kafkaProducer))
          // the API's deletes go through the service's (cached) store and reach its actors
          return yield* startKafka(config, config.kafkaBrokers.value, progress).pipe(
            Effect.provide(
              Layer.provideMerge(httpLayer(config).pipe(Layer.provide(readiness("kafka"))), layer)
            )
          )
        }
        return yield* startEmbedded(config, progress).pipe(
          Effect.provide(
            Layer.mergeAll(
              Layer.provideMerge(
                httpLayer(config).pipe(Layer.provide(readiness("embedded"))),
                serviceLayer(config, embeddedLogLayer(config))
              ),
              memoryModelLayer(config),
              IngestMetrics.layer
            )
          )
        )
      }
      case "ingest": {
        if (Option.isNone(config.kafkaBrokers))
          return yield* new CliInputError({
            message: "KAFKA_BROKERS is required: turnvault ingest consumes the memory-ingestion topic"
          })
        yield* boundShutdown(config.shutdownTimeoutMs)
        const readiness = readinessLayer([
          ...Option.toArray(Option.map(config.databaseUrl, (url) => postgresHealthCheck(url)))
        ])
        const http = HttpLive(config.ingestHttpPort).pipe(Layer.provide(readiness))
        const layer = Layer.mergeAll(
          withTexts(config)(
            Layer.merge(stores, kafkaLogLayer(config.kafkaBrokers.value, config.kafkaProducer))
          ),
          memoryModelLayer(config),
          http
        ).pipe(Layer.provideMerge(IngestMetrics.layer))
        return yield* runIngest(config).pipe(Effect.provide(layer))
      }
      case "process": {
        const options = {
          definitions: yield* required("definitions"),
          requirements: flag("requirements"),
          input: yield* required("input"),
          exportDir: yield* required("export"),
          batchSize: config.batchSize
        }
        return yield* print(
          yield* processFile(options).pipe(Effect.provide(serviceLayer(config, fileLogLayer(config))))
        )
      }
      case "definitions": {
        const path = positionals[2]
        if (sub !== "import" || path === undefined) return yield* new CliInputError({ message: USAGE })
        return yield* print(yield* importDefinitions(path).pipe(Effect.provide(stores)))
      }
      case "requirements": {
        const path = positionals[2]
        if (path === undefined) return yield* new CliInputError({ message: USAGE })
        if (sub === "import")
          return yield* print(yield* importRequirements(path).pipe(Effect.provide(stores)))
        const provider = Option.match(config.llmBaseUrl, {
          onNone: () => null,
          onSome: (baseUrl) =>
            OpenAiCompatible.make({
              baseUrl,
              model: config.llmModel,
              apiKey: config.llmApiKey,
              timeoutMs: config.llmTimeoutMs
            })
        })
        const extracted = extractRequirements({
          scenarioPath: path,
          output: flag("output"),
          apply: values.apply === true,
          provider
        })
        return yield* extracted.pipe(
          Effect.provide(stores),
          Effect.flatMap(print),
          // a model that failed (after its retries) or answered nonsense: said plainly, exit 1
          Effect.catchTag("LlmError", (e) =>
            Console.error(`turnvault requirements extract: the model failed (${e.kind}): ${e.message}`).pipe(
              Effect.zipRight(
                Effect.sync(() => {
                  process.exitCode = 1
                })
              )
            )
          )
        )
      }
      case "export":
        return yield* print(yield* exportStores(yield* required("export")).pipe(Effect.provide(stores)))
      case "verify": {
        const filter = { tenantId: flag("tenant"), sessionId: flag("session") }
        if (values.checkpoints !== true) {
          const report = yield* verifyStores(filter).pipe(Effect.provide(stores))
          yield* print(report)
          if (report.broken.length > 0 || report.erasures.broken.length > 0) process.exitCode = 1
          return
        }
        const key = yield* verifyingKey(config, flag("public-key"))
        // with a broker, the copies published on the witness topic are compared too
        const witnessed = Option.match(config.kafkaBrokers, {
          onNone: () => stores,
          onSome: (brokers) =>
            Layer.merge(
              stores,
              KafkaCheckpointWitness.layer(topicNames(config.topicPrefix).auditCheckpoints).pipe(
                Layer.provide(kafkaClientLayer(brokers))
              )
            )
        })
        const report = yield* verifyStores(filter, key).pipe(Effect.provide(witnessed))
        yield* print(report)
        if (
          report.broken.length > 0 ||
          report.erasures.broken.length > 0 ||
          (report.checkpoints?.broken.length ?? 0) > 0
        )
          process.exitCode = 1
        return
      }
      case "checkpoints": {
        if (sub === "keygen") return yield* print(newKeyPair())
        if (sub === "list")
          return yield* Effect.forEach(yield* listCheckpoints.pipe(Effect.provide(stores)), print, {
            discard: true
          })
        // on embedded defaults the in-process log is the only witness (it ends with the process)
        return yield* print(
          yield* withOutputs(config, writeCheckpointNow(config).pipe(Effect.provide(stores)))
        )
      }
      case "erase": {
        const tenantId = yield* required("tenant")
        const by = yield* required("by")
        const reason = flag("reason") ?? "erasure request"
        const file = flag("customers")
        const customers =
          file === undefined
            ? [yield* required("customer")]
            : (yield* Effect.try({
                try: () => readFileSync(file, "utf8"),
                catch: (e) => new CliInputError({ message: `cannot read ${file}: ${String(e)}` })
              }))
                .split("\n")
                .map((line) => line.trim())
                .filter((line) => line.length > 0)
        const erase = Effect.forEach(
          customers,
          (customerId) => Effect.flatMap(eraseCustomer(config, { tenantId, customerId, by, reason }), print),
          { discard: true }
        ).pipe(Effect.provide(stores))
        return yield* withOutputs(config, erase)
      }
      case "prove":
        return yield* print(
          yield* proveTurn(yield* required("tenant"), yield* required("turn")).pipe(Effect.provide(stores))
        )
      case "verify-proof": {
        const result = yield* verifyProofFile(
          yield* required("proof"),
          yield* verifyingKey(config, flag("public-key"))
        )
        yield* print(result)
        if (!result.valid) process.exitCode = 1
        return
      }
      case "history": {
        const filter = { tenantId: yield* required("tenant"), sessionId: yield* required("session") }
        const entries = yield* Effect.flatMap(AuditStore, (audit) => audit.listHistory(filter)).pipe(
          Effect.provide(stores)
        )
        if (entries.length === 0) {
          yield* Console.error(`no history for session ${filter.sessionId} of tenant ${filter.tenantId}`)
          process.exitCode = 1
          return
        }
        for (const entry of entries) yield* print(historyRow(entry))
        return
      }
      case "summary": {
        const tenantId = yield* required("tenant")
        const sessionId = yield* required("session")
        const summary = yield* Effect.flatMap(IngestionStore, (store) =>
          store.summary(tenantId, sessionId)
        ).pipe(Effect.provide(stores))
        if (summary === null) {
          yield* Console.error(`no summary for session ${sessionId} of tenant ${tenantId}`)
          process.exitCode = 1
          return
        }
        return yield* print(summary)
      }
      case "migrate": {
        const url = yield* needDatabase(config)
        if (sub === "status") return yield* print(yield* migrationStatus(url))
        if (sub === "up") return yield* print({ ran: yield* runMigrations(url, "up") })
        if (sub === "down")
          return yield* print({ ran: yield* runMigrations(url, "down", values.all ? undefined : 1) })
        return yield* new CliInputError({ message: USAGE })
      }
      case "keys": {
        yield* needDatabase(config)
        const tenant = yield* required("tenant")
        if (sub === "create") {
          const scope = flag("scope") ?? "read"
          if (!isKeyScope(scope)) return yield* new CliInputError({ message: "--scope is read or admin" })
          return yield* print(
            yield* createKey(tenant, scope, operator(flag("by"))).pipe(Effect.provide(stores))
          )
        }
        if (sub === "list") return yield* print(yield* listKeys(tenant).pipe(Effect.provide(stores)))
        if (sub === "revoke")
          return yield* print(
            yield* revokeKey(tenant, yield* required("key"), operator(flag("by"))).pipe(
              Effect.provide(stores)
            )
          )
        return yield* new CliInputError({ message: USAGE })
      }
      case "jobs": {
        const job = positionals[2]
        if (sub !== "run" || !isJobName(job))
          return yield* new CliInputError({ message: `usage: turnvault jobs run expire|orphans\n${USAGE}` })
        return yield* print(yield* runJobNow(job).pipe(Effect.provide(stores)))
      }
      case "topics": {
        if (sub !== "ensure" || Option.isNone(config.kafkaBrokers)) {
          return yield* new CliInputError({ message: "usage: KAFKA_BROKERS=... turnvault topics ensure" })
        }
        const report = yield* ensureTopics(
          topicCatalogue(config.topicPrefix, config.partitions, config.maxEventBytes)
        ).pipe(Effect.provide(kafkaClientLayer(config.kafkaBrokers.value)))
        yield* print(report)
        if (report.mismatched.length > 0 || report.tooSmall.length > 0) process.exitCode = 1
        return
      }
      case "quarantine": {
        yield* needDatabase(config)
        if (sub === "list")
          return yield* print(yield* listQuarantine(flag("tenant")).pipe(Effect.provide(stores)))
        const tenant = yield* required("tenant")
        const session = yield* required("session")
        if (sub === "show")
          return yield* print(
            yield* showQuarantine(tenant, session, values.values === true).pipe(Effect.provide(stores))
          )
        if (sub !== "release" && sub !== "drop") return yield* new CliInputError({ message: USAGE })
        if (Option.isNone(config.kafkaBrokers))
          return yield* new CliInputError({
            message: "KAFKA_BROKERS is required: the control message goes to the partition's owner"
          })
        return yield* print(
          yield* resolveQuarantine(sub, tenant, session).pipe(
            Effect.provide(
              Layer.merge(stores, kafkaLogLayer(config.kafkaBrokers.value, config.kafkaProducer))
            )
          )
        )
      }
      case "items": {
        const tenant = yield* required("tenant")
        const withValues = values.values === true
        const rows = (list: ReadonlyArray<ProfileField>) =>
          Effect.forEach(list, (row) => print(shownRow(row, withValues)), { discard: true })
        switch (sub) {
          case "chain":
            return yield* rows(yield* itemChain(tenant, yield* required("item")).pipe(Effect.provide(stores)))
          case "derived":
            return yield* rows(
              yield* derivedItems(tenant, yield* required("item")).pipe(Effect.provide(stores))
            )
          case "history": {
            const list = fieldHistory(tenant, yield* required("customer"), yield* required("field"))
            return yield* rows(yield* list.pipe(Effect.provide(stores)))
          }
          case "delete": {
            const request = {
              by: yield* required("by"),
              reason: yield* required("reason"),
              cascade: values.cascade === true
            }
            const deleted = yield* deleteItem(tenant, yield* required("item"), request).pipe(
              Effect.provide(stores)
            )
            return yield* Effect.forEach(deleted, print, { discard: true })
          }
          case "tombstones":
            return yield* Effect.forEach(yield* tombstones(tenant).pipe(Effect.provide(stores)), print, {
              discard: true
            })
          default:
            return yield* new CliInputError({ message: USAGE })
        }
      }
      case "generate": {
        const lines = Number(flag("lines") ?? "10000")
        return yield* print(yield* writeWorkload(yield* required("output"), lines))
      }
      default:
        return yield* new CliInputError({ message: USAGE })
    }
  })

const logLevel = (name: string) =>
  LogLevel.allLevels.find((l) => l.label.toLowerCase() === name.toLowerCase()) ?? LogLevel.Info

const program = Effect.flatMap(AppConfig, (config) =>
  runCommand(config).pipe(Logger.withMinimumLogLevel(logLevel(config.logLevel)))
)

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
  // the format is read on its own, so even a configuration error is logged in it
  Effect.provide(
    Layer.unwrapEffect(
      Effect.map(
        Effect.orElseSucceed(LogFormatConfig, () => "auto"),
        (format) =>
          // the services (`start`, `jobs start`) log to stdout; a one-shot command to stderr
          positionals[0] === "start" || (positionals[0] === "jobs" && positionals[1] === "start")
            ? loggerLayer(logFormatOf(format, process.stdout.isTTY === true))
            : loggerLayer(logFormatOf(format, process.stderr.isTTY === true), undefined, "stderr")
      )
    )
  ),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
