/**
 * The flow of turn events, the one place a batch travels and is acknowledged (DESIGN 2, 4):
 *
 *   source batch → decode (bad → DLQ) → apply → persist → publish → commit
 *
 * Every source (Kafka, the embedded log, a JSONL file for `process`) runs this same flow. A batch is
 * committed only after its writes are durable and its outputs and dead letters are published; a
 * step that fails on an unavailable dependency pauses the partition (PausePolicy) until it
 * succeeds. A batch that fails before it is durable is forgotten and recomputed from the stores.
 */
import { Context, Duration, Effect, Layer } from "effect"
import type { TurnEvent } from "../schemas"
import { type EventResult, TurnBatch, batchLogIds } from "../src/batch/TurnBatch"
import { Metrics } from "../src/observability/Metrics"
import type { Watermark } from "../src/batch/Persistence"
import { partitionKey } from "../src/observability/ConsumerProgress"
import {
  EventSource,
  EventSourceError,
  type SourceBatch,
  type SourceRecord,
  type StartedBatch
} from "../src/ports/EventSource"
import { type PartitionClaim, PartitionFenced, PartitionOwnership } from "../src/ports/PartitionOwnership"
import { type OutputMessage, OutputSink } from "../src/ports/OutputSink"
import type { TopicNames } from "../src/ports/Topics"
import { type DeadLetterReason, deadLetter } from "./deadLetter"
import { type DecodeFailure, decodeRecordValue, tooLarge } from "./decode"
import { type PausePolicyConfig, makePausePolicy } from "./PausePolicy"
import { repartitioned } from "./repartition"

/** Why an applied batch refused one of its events, for the DLQ; null for events it took. */
const refusal = (result: EventResult): DeadLetterReason | null => {
  switch (result.kind) {
    case "out_of_order":
      return { reason: "out_of_order", detail: result.detail }
    case "customer_mismatch":
      return { reason: "schema_violation", detail: `customer_mismatch: ${result.detail}` }
    default:
      return null
  }
}

/**
 * A record that came through the repartition stage carries its input key (`source_key`): producers
 * key by session_id, and a message keyed otherwise landed on another input partition than its
 * session's other events, so nothing orders it among them. Such an event is refused (DLQ), never
 * applied. Records that did not come from the input topic (the embedded log, a file) are not checked.
 */
const keyMismatch = (record: SourceRecord, event: TurnEvent): DecodeFailure | null => {
  const headers = record.headers
  if (headers?.source_topic === undefined) return null
  const key = headers.source_key
  if (key === event.session_id) return null
  return {
    reason: "schema_violation",
    detail:
      key === undefined
        ? "key_mismatch: the message has no key; producers key turn events by session_id"
        : "key_mismatch: the message key is not the event's session_id"
  }
}

/** How many leading records (in offset order) lie below the claim's durable offset. */
const replayedCount = (sources: ReadonlyArray<SourceRecord>, watermark: Watermark | null) => {
  const durableOffset = watermark?.claim.durableOffset ?? null
  if (durableOffset === null) return 0
  const below = BigInt(durableOffset)
  let count = 0
  while (count < sources.length && BigInt(sources[count]!.offset) < below) count++
  return count
}

export interface TurnStreamConfig extends PausePolicyConfig {
  readonly topics: TopicNames
  /** Larger events are dead-lettered as `too_large` (TURNVAULT_MAX_EVENT_BYTES). */
  readonly maxEventBytes: number
  /** The consumer group: partition claims are per (group, topic, partition). */
  readonly group: string
}

export interface RunOptions {
  /** Re-key the input by customer first (Kafka, whose producers key by session). */
  readonly repartition: boolean
  /** Claim each partition and fence stale owners (when several instances share the partitions). */
  readonly fence: boolean
}

export const makeTurnStream = (config: TurnStreamConfig) =>
  Effect.gen(function* () {
    const core = yield* TurnBatch
    const sink = yield* OutputSink
    const metrics = yield* Metrics
    const ownership = yield* PartitionOwnership
    const pause = makePausePolicy(config)
    /** Observes how long a step of a batch took (turnvault_batch_step_duration_seconds). */
    const timed =
      (stage: "repartition" | "stateful", step: "apply" | "persist" | "publish" | "commit") =>
      <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.map(Effect.timed(effect), ([elapsed, value]) => {
          metrics.batchStepDuration.observe({ stage, step }, Duration.toSeconds(elapsed))
          return value
        })
    // This instance's claims on the partitions it owns, and those found fenced: not claimed again
    // before the next rebalance (a zombie must not take a partition back from its new owner).
    const claims = new Map<string, PartitionClaim>()
    const fenced = new Set<string>()

    /**
     * Decodes a batch's records; what does not decode becomes a dead letter with its reason. The
     * key is not checked below the durable offset: those records were applied (by a version that
     * did not check keys, say) and are replayed, their outputs published again.
     */
    const decode = (records: ReadonlyArray<SourceRecord>, watermark: Watermark | null) =>
      Effect.gen(function* () {
        const durable = watermark?.claim.durableOffset
        const below = durable === null || durable === undefined ? null : BigInt(durable)
        const events: Array<TurnEvent> = []
        const sources: Array<SourceRecord> = []
        const dead: Array<OutputMessage> = []
        for (const record of records) {
          const decoded = decodeRecordValue(record.value, config.maxEventBytes)
          if (decoded._tag === "Left") {
            dead.push(yield* deadLetter(config.topics, metrics, record, decoded.left))
            continue
          }
          const replayed = below !== null && BigInt(record.offset) < below
          const mismatch = replayed ? null : keyMismatch(record, decoded.right)
          if (mismatch !== null) {
            dead.push(yield* deadLetter(config.topics, metrics, record, mismatch, decoded.right))
            continue
          }
          events.push(decoded.right)
          sources.push(record)
        }
        return { events, sources, dead }
      })

    /**
     * Starts a batch: decodes its records and applies its events in memory. A failed apply (a
     * store look-up) forgets what it touched and is recomputed from the stores for as long as it
     * takes, once the partition's earlier batches are `settled` (their writes are what it must
     * read). Records below the watermark claim's durable offset were applied under an earlier
     * claim: they are replayed (their outputs re-published from the stores), never applied again.
     */
    const start = (
      records: ReadonlyArray<SourceRecord>,
      partition: number,
      watermark: Watermark | null,
      settled: Effect.Effect<void>
    ) =>
      Effect.gen(function* () {
        const { events, sources, dead } = yield* decode(records, watermark)
        if (events.length === 0) return { applied: null, events, sources, dead }
        const replayed = replayedCount(sources, watermark)
        if (replayed > 0) {
          metrics.replayedEvents.inc(replayed)
          yield* Effect.logInfo("records below the partition's durable offset: replayed, not applied again", {
            partition,
            replayed,
            durable_offset: watermark?.claim.durableOffset
          })
        }
        const applied = yield* core.apply(events, partition, replayed).pipe(
          timed("stateful", "apply"),
          Effect.tapError(() => settled),
          pause.whileFailing(() => true, "batch failed on a store error; retrying from the stores", {
            partition
          }),
          Effect.orDie
        )
        return { applied, events, sources, dead }
      })

    type Started = Effect.Effect.Success<ReturnType<typeof start>>

    /**
     * Finishes a started batch: its writes durable (unavailable stores pause the write, and the same
     * writes are retried, so a half-written batch is finished, never recomputed), then its outputs
     * and dead letters published. A fenced partition is not retried: this instance is no longer its
     * owner. Returns one result per decoded event.
     */
    const finish = (started: Started, watermark: Watermark | null) =>
      Effect.gen(function* () {
        const { applied: batch, events, sources } = started
        const dead = [...started.dead]
        if (batch === null) {
          if (dead.length > 0)
            yield* sink.publish(dead).pipe(pause.untilDone("dead letters not published; retrying"))
          return [] as ReadonlyArray<EventResult>
        }
        yield* core.persist(batch, watermark).pipe(
          pause.whileFailing(
            (error) => error._tag === "PersistenceError",
            "stores unavailable; pausing until they recover",
            batchLogIds(batch)
          ),
          Effect.onError(() => core.forget(batch)),
          // retried for as long as it takes: only PartitionFenced comes out
          Effect.catchIf(
            (error) => error._tag !== "PartitionFenced",
            (error) => Effect.die(error)
          ),
          timed("stateful", "persist")
        )
        for (const [i, result] of batch.results.entries()) {
          const why = refusal(result)
          if (why !== null) dead.push(yield* deadLetter(config.topics, metrics, sources[i]!, why, events[i]))
        }
        yield* Effect.gen(function* () {
          yield* core
            .publish(batch)
            .pipe(pause.untilDone("outputs not published; retrying", batchLogIds(batch)))
          if (dead.length > 0)
            yield* sink.publish(dead).pipe(pause.untilDone("dead letters not published; retrying"))
        }).pipe(timed("stateful", "publish"))
        yield* core.complete(batch)
        return batch.results
      })

    /** Takes one batch of records to durable and published (start, then finish); one result per decoded event. */
    const handle = (
      records: ReadonlyArray<SourceRecord>,
      partition: number,
      watermark: Watermark | null = null
    ) =>
      Effect.flatMap(start(records, partition, watermark, Effect.void), (started) =>
        finish(started, watermark)
      )

    /**
     * Stage 1 (Kafka): re-key the input by customer onto the by-customer topic, then commit. An
     * event larger than the maximum is dead-lettered here: the by-customer topic is sized for
     * events up to the maximum and would refuse it for ever.
     */
    const repartition = (batch: SourceBatch) =>
      Effect.gen(function* () {
        const messages: Array<OutputMessage> = []
        for (const record of batch.records) {
          const large = tooLarge(record.value, config.maxEventBytes, record.key)
          messages.push(
            large === null
              ? repartitioned(config.topics.byCustomer, record)
              : yield* deadLetter(config.topics, metrics, record, large)
          )
        }
        yield* sink
          .publish(messages)
          .pipe(
            pause.untilDone("repartitioned events not published; retrying", { partition: batch.partition }),
            timed("repartition", "publish")
          )
        yield* batch.commit.pipe(timed("repartition", "commit"))
        metrics.repartitionedEvents.inc(batch.records.length)
      })

    /** This instance's claim on the batch's partition, taken on its first batch after an assignment. */
    const claimFor = (batch: SourceBatch) => {
      const key = partitionKey(batch.topic, batch.partition)
      if (fenced.has(key)) {
        const cause = new PartitionFenced({ topic: batch.topic, partition: batch.partition, generation: -1 })
        return Effect.fail(new EventSourceError({ operation: "fenced", cause }))
      }
      const held = claims.get(key)
      if (held !== undefined) return Effect.succeed(held)
      return ownership.claim(config.group, batch.topic, batch.partition).pipe(
        pause.untilDone("partition claim failed; retrying", { partition: batch.partition }),
        Effect.tap((claim) => Effect.sync(() => claims.set(key, claim)))
      )
    }

    /** Forgets a fenced partition's state; the source redelivers its batch to whoever owns it now. */
    const onFenced = (batch: SourceBatch, error: PartitionFenced) => {
      const key = partitionKey(batch.topic, batch.partition)
      claims.delete(key)
      fenced.add(key)
      return core.revoke([batch.partition]).pipe(
        Effect.zipRight(
          Effect.logWarning("partition fenced: another instance owns it now; dropping its state", {
            topic: batch.topic,
            partition: batch.partition
          })
        ),
        Effect.zipRight(Effect.fail(new EventSourceError({ operation: "fenced", cause: error })))
      )
    }

    /**
     * The stateful stage: decode and apply when started (claiming the partition first when
     * shared); persist (fenced when shared), publish and commit when completed.
     */
    const apply = (batch: SourceBatch, fence: boolean) =>
      Effect.gen(function* () {
        const last = batch.records[batch.records.length - 1]!
        const watermark = fence
          ? { claim: yield* claimFor(batch), offset: (BigInt(last.offset) + 1n).toString() }
          : null
        const started = yield* start(batch.records, batch.partition, watermark, batch.settled)
        return {
          complete: Effect.gen(function* () {
            yield* finish(started, watermark).pipe(
              Effect.catchTag("PartitionFenced", (error) => onFenced(batch, error))
            )
            yield* batch.commit.pipe(timed("stateful", "commit"))
            metrics.committedOffsets.inc(batch.records.length)
          }).pipe(Effect.uninterruptible),
          abandon: started.applied === null ? Effect.void : core.forget(started.applied)
        } satisfies StartedBatch<never>
      })

    /** Stage 1 has nothing to start: its batch is published and committed when completed. */
    const startRepartition = (batch: SourceBatch) =>
      Effect.succeed({
        complete: repartition(batch).pipe(Effect.uninterruptible),
        abandon: Effect.void
      } satisfies StartedBatch<never>)

    /**
     * Consumes the source: every batch started, then completed (made durable, published,
     * committed); uninterruptible but for its pauses.
     * With `repartition` (Kafka, whose producers key by session) the input topic feeds stage 1 and
     * the by-customer topic the stateful stage; otherwise (the embedded log, already partitioned
     * by customer, and files) every batch goes to the stateful stage.
     */
    const run = (options: RunOptions) => {
      const isInput = (topic: string) => options.repartition && topic === config.topics.turnEvents
      const revoked = (topic: string, partitions: ReadonlyArray<number>) =>
        Effect.suspend(() => {
          for (const partition of partitions) {
            claims.delete(partitionKey(topic, partition))
            fenced.delete(partitionKey(topic, partition))
          }
          return isInput(topic) ? Effect.void : core.revoke(partitions)
        })
      return Effect.flatMap(EventSource, (source) =>
        source.run({
          onBatch: (batch) =>
            (isInput(batch.topic) ? startRepartition(batch) : apply(batch, options.fence)).pipe(
              Effect.uninterruptible
            ),
          onRevoked: revoked
        })
      )
    }

    return { handle, run }
  })

export class TurnStream extends Context.Tag("turnvault/TurnStream")<
  TurnStream,
  Effect.Effect.Success<ReturnType<typeof makeTurnStream>>
>() {
  static readonly layer = (config: TurnStreamConfig) => Layer.effect(TurnStream, makeTurnStream(config))
}
