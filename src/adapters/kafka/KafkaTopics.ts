/**
 * `turnvault topics ensure`: creates every catalogued topic that is missing and checks those that
 * exist: a topic with fewer partitions than catalogued is reported (kafka never shrinks partitions,
 * and growing them would move keys between partitions), and so is one whose `max.message.bytes` is
 * below the catalogue's (the broker would refuse a large output, and its publish would be retried
 * for ever). Neither is changed: both are the operator's decision.
 */
import { Data, Effect } from "effect"
import type { ConfigResourceTypes } from "kafkajs"
import { KafkaClient } from "./KafkaClient"

/** What creating or checking one topic needs (each entry of the streams/ topic catalogue has it). */
/** `ConfigResourceTypes.TOPIC`: kafkajs's ESM entry does not export its enums. */
const TOPIC_RESOURCE: ConfigResourceTypes = 2

export interface TopicToEnsure {
  readonly name: string
  readonly partitions: number
  readonly retentionMs: number
  readonly cleanupPolicy: "delete" | "compact"
  readonly maxMessageBytes: number
}

export class KafkaAdminError extends Data.TaggedError("KafkaAdminError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

export interface EnsureReport {
  readonly created: ReadonlyArray<string>
  readonly existing: ReadonlyArray<{ readonly name: string; readonly partitions: number }>
  readonly mismatched: ReadonlyArray<{
    readonly name: string
    readonly expected: number
    readonly actual: number
  }>
  /** Existing topics whose `max.message.bytes` is below the catalogue's. */
  readonly tooSmall: ReadonlyArray<{
    readonly name: string
    readonly expectedMaxMessageBytes: number
    readonly actualMaxMessageBytes: number
  }>
}

export const ensureTopics = (catalogue: ReadonlyArray<TopicToEnsure>) =>
  Effect.gen(function* () {
    const kafka = yield* KafkaClient
    const admin = kafka.admin()
    const attempt = <A>(operation: string, run: () => Promise<A>) =>
      Effect.tryPromise({ try: run, catch: (cause) => new KafkaAdminError({ operation, cause }) })
    return yield* Effect.acquireUseRelease(
      attempt("connect", () => admin.connect()),
      () =>
        Effect.gen(function* () {
          const names = new Set(yield* attempt("listTopics", () => admin.listTopics()))
          const missing = catalogue.filter((spec) => !names.has(spec.name))
          if (missing.length > 0) {
            yield* attempt("createTopics", () =>
              admin.createTopics({
                waitForLeaders: true,
                topics: missing.map((spec) => ({
                  topic: spec.name,
                  numPartitions: spec.partitions,
                  replicationFactor: -1,
                  configEntries: [
                    { name: "retention.ms", value: String(spec.retentionMs) },
                    { name: "cleanup.policy", value: spec.cleanupPolicy },
                    { name: "max.message.bytes", value: String(spec.maxMessageBytes) }
                  ]
                }))
              })
            )
          }
          const present = catalogue.filter((spec) => names.has(spec.name))
          const metadata =
            present.length === 0
              ? { topics: [] }
              : yield* attempt("fetchTopicMetadata", () =>
                  admin.fetchTopicMetadata({ topics: present.map((s) => s.name) })
                )
          const existing = metadata.topics.map((t) => ({ name: t.name, partitions: t.partitions.length }))
          const mismatched = existing.flatMap((t) => {
            const expected = present.find((s) => s.name === t.name)!.partitions
            return t.partitions < expected ? [{ name: t.name, expected, actual: t.partitions }] : []
          })
          const configs =
            present.length === 0
              ? { resources: [] }
              : yield* attempt("describeConfigs", () =>
                  admin.describeConfigs({
                    includeSynonyms: false,
                    resources: present.map((spec) => ({
                      type: TOPIC_RESOURCE,
                      name: spec.name,
                      configNames: ["max.message.bytes"]
                    }))
                  })
                )
          const tooSmall = configs.resources.flatMap((resource) => {
            const expected = present.find((s) => s.name === resource.resourceName)?.maxMessageBytes
            const actual = Number(
              resource.configEntries.find((e) => e.configName === "max.message.bytes")?.configValue
            )
            return expected !== undefined && Number.isFinite(actual) && actual < expected
              ? [
                  {
                    name: resource.resourceName,
                    expectedMaxMessageBytes: expected,
                    actualMaxMessageBytes: actual
                  }
                ]
              : []
          })
          return {
            created: missing.map((s) => s.name),
            existing,
            mismatched,
            tooSmall
          } satisfies EnsureReport
        }),
      () => attempt("disconnect", () => admin.disconnect()).pipe(Effect.ignore)
    )
  })
