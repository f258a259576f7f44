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
import { Context, Duration, Effect, Either, Layer } from "effect"
import type { TurnEvent } from "../schemas"
import { type AppliedBatch, type EventResult, TurnBatch, batchLogIds } from "../src/batch/TurnBatch"
import { Metrics } from "../src/observability/Metrics"
import type { Watermark } from "../src/batch/Persistence"
import { permanentRefusal } from "../src/batch/storeRefusal"
import { sessionKey } from "../src/domain/model"
import {
  type ParkedEvent,
  QuarantineStore,
  type Resolution,
  type StoredParkedEvent
} from "../src/ports/QuarantineStore"
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
import { UnitOfWork } from "../src/ports/UnitOfWork"
import { type DeadLetterReason, deadLetter } from "./deadLetter"
import { type DecodeFailure, decodeRecordValue, tooLarge } from "./decode"
import { type PausePolicyConfig, makePausePolicy } from "./PausePolicy"
import {
  type ControlMessage,
  type Entry,
  type Isolated,
  controlId,
  controlOf,
  makeIsolation,
  parkedEvent,
  QUARANTINE_NOTE,
  recordOf
} from "./quarantine"
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

/** How many leading entries lie below the claim's durable offset (they come first, in offset order). */
const replayedCount = (entries: ReadonlyArray<Entry>) => {
  let count = 0
  while (count < entries.length && entries[count]!.replayed) count++
  return count
}

export interface TurnStreamConfig extends PausePolicyConfig {
  readonly topics: TopicNames
  /** Larger events are dead-lettered as `too_large` (TURNVAULT_MAX_EVENT_BYTES). */
  readonly maxEventBytes: number
  /** The consumer group: partition claims are per (group, topic, partition). */
  readonly group: string
  /**
   * Attempts of a batch step that fails for good (an SQLSTATE retrying does not change, a defect)
   * before the batch is isolated and the failing session quarantined (TURNVAULT_QUARANTINE_AFTER).
   */
  readonly quarantineAfter: number
}

/** A batch's records, sorted (`sort`). */
interface Sorted {
  readonly entries: Array<Entry>
  readonly dead: Array<OutputMessage>
  /** Events of quarantined sessions, parked behind the session's first (with their entry, for a release in the same batch). */
  parked: Array<ParkedEvent & { readonly entry: Entry }>
  readonly resolutions: Array<Resolution>
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
    const quarantine = yield* QuarantineStore
    const pause = makePausePolicy(config)
    const uow = yield* UnitOfWork
    const isolation = makeIsolation(core, pause, metrics, {
      attempts: config.quarantineAfter,
      atomic: uow.atomic
    })
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
    // The quarantined sessions of each partition this instance reads (loaded on its first batch),
    // and how many isolations each partition went through: a batch started before the latest one
    // was applied on state the isolation replaced, and is applied again before it completes.
    const held = new Map<string, Set<string>>()
    const isolations = new Map<string, number>()

    const countHeld = () => {
      let sessions = 0
      for (const set of held.values()) sessions += set.size
      metrics.quarantinedSessions.set(sessions)
    }

    /** Forgets what this instance knew of a partition it no longer owns. */
    const forgetPartition = (key: string) => {
      claims.delete(key)
      held.delete(key)
      countHeld()
    }

    const heldOf = (topic: string, partition: number) => {
      const key = partitionKey(topic, partition)
      const known = held.get(key)
      if (known !== undefined) return Effect.succeed(known)
      return quarantine.sessions({ topic, partition }).pipe(
        pause.untilDone("quarantined sessions not loaded; retrying", { partition }),
        Effect.map((sessions) => {
          const set = new Set(sessions.map((s) => sessionKey(s.tenant_id, s.session_id)))
          held.set(key, set)
          countHeld()
          return set
        })
      )
    }

    /** A parked event's record decoded again (it decoded when it was parked). */
    const decodeParked = (row: StoredParkedEvent) => {
      const record = recordOf(row)
      const decoded = decodeRecordValue(record.value, config.maxEventBytes)
      return { record, decoded }
    }

    /**
     * What a control message below the durable offset resolved, less the released events that
     * failed again and were parked anew (same record, a later row): those wait in quarantine, and
     * replaying them as applied turns would dead-letter them as out of order.
     */
    const replayedResolution = (control: ControlMessage, by: string) =>
      Effect.gen(function* () {
        const resolved = yield* quarantine.resolvedBy(by)
        const rows = yield* quarantine.events(control.tenant_id, control.session_id)
        const parkedAgain = (row: StoredParkedEvent) =>
          rows.some(
            (later) =>
              BigInt(later.seq) > BigInt(row.seq) &&
              later.topic === row.topic &&
              later.partition === row.partition &&
              later.offset === row.offset
          )
        return resolved.filter((row) => row.status !== "released" || !parkedAgain(row))
      }).pipe(pause.untilDone("quarantine not readable; retrying"))

    /**
     * Carries out an operator's control message: the session's parked events (those of the store,
     * and those parked earlier in this very batch) are released as entries, in their order, or
     * dropped to the DLQ; the session is no longer quarantined. Below the durable offset it was
     * carried out already: what it resolved is replayed (re-published, never applied again).
     */
    const carryOut = (
      control: ControlMessage,
      record: SourceRecord,
      replayed: boolean,
      sorted: Sorted,
      sessions: Set<string>
    ) =>
      Effect.gen(function* () {
        const by = controlId(record)
        const rows = replayed
          ? yield* replayedResolution(control, by)
          : (yield* quarantine
              .events(control.tenant_id, control.session_id)
              .pipe(pause.untilDone("quarantine not readable; retrying"))).filter(
              (row) => row.status === "parked"
            )
        const release = replayed
          ? (row: StoredParkedEvent) => row.status === "released"
          : () => control.action === "release"
        const drop = (source: SourceRecord, parkedAs: string, event?: TurnEvent) =>
          Effect.map(
            deadLetter(
              config.topics,
              metrics,
              source,
              {
                reason: "operator_dropped",
                detail: `dropped from quarantine by ${by} (parked as ${parkedAs})`
              },
              event
            ),
            (message) => sorted.dead.push(message)
          )
        for (const row of rows) {
          const { record: source, decoded } = decodeParked(row)
          if (decoded._tag === "Left")
            sorted.dead.push(yield* deadLetter(config.topics, metrics, source, decoded.left))
          else if (release(row)) sorted.entries.push({ event: decoded.right, source, replayed })
          else yield* drop(source, row.reason, decoded.right)
        }
        if (replayed) return
        // events of the session parked earlier in this batch: never stored, resolved the same way
        const key = sessionKey(control.tenant_id, control.session_id)
        const mine = (p: ParkedEvent) => sessionKey(p.tenant_id, p.session_id) === key
        const batchParked = sorted.parked.filter(mine)
        sorted.parked = sorted.parked.filter((p) => !mine(p))
        for (const { entry } of batchParked) {
          if (control.action === "release") sorted.entries.push({ ...entry, replayed: false })
          else yield* drop(entry.source, "session_quarantined", entry.event)
        }
        if (rows.length > 0)
          sorted.resolutions.push({
            tenant_id: control.tenant_id,
            session_id: control.session_id,
            seqs: rows.map((row) => row.seq),
            status: control.action === "release" ? "released" : "dropped",
            by
          })
        sessions.delete(key)
        countHeld()
        metrics.quarantineResolutions.inc({ status: control.action === "release" ? "released" : "dropped" })
        yield* Effect.logInfo(
          `quarantined session ${control.action === "release" ? "released" : "dropped"}`,
          {
            events: rows.length + batchParked.length,
            by
          }
        ).pipe(Effect.annotateLogs({ tenant_id: control.tenant_id, session_id: control.session_id }))
      })

    /**
     * Sorts a batch's records: decoded events become entries; what does not decode becomes a dead
     * letter with its reason; events of a quarantined session are parked behind its first; control
     * messages are carried out where they stand. The key is not checked below the durable offset:
     * those records were applied (by a version that did not check keys, say) and are replayed,
     * their outputs published again; a replayed record that was parked is not parked again.
     */
    const sort = (records: ReadonlyArray<SourceRecord>, watermark: Watermark | null) =>
      Effect.gen(function* () {
        const durable = watermark?.claim.durableOffset
        const below = durable === null || durable === undefined ? null : BigInt(durable)
        const isReplayed = (record: SourceRecord) => below !== null && BigInt(record.offset) < below
        const { topic, partition } = records[0]!
        const sessions = yield* heldOf(topic, partition)
        const replayedOffsets = records.filter(isReplayed).map((r) => r.offset)
        const parkedBefore =
          replayedOffsets.length === 0
            ? new Set<string>()
            : yield* quarantine
                .parkedOffsets(topic, partition, replayedOffsets)
                .pipe(pause.untilDone("quarantine not readable; retrying", { partition }))
        const sorted: Sorted = { entries: [], dead: [], parked: [], resolutions: [] }
        for (const record of records) {
          const replayed = isReplayed(record)
          const control = controlOf(record)
          if (control === "invalid") {
            sorted.dead.push(
              yield* deadLetter(config.topics, metrics, record, {
                reason: "schema_violation",
                detail:
                  "control message: expected action release or drop and a JSON body naming tenant_id and session_id"
              })
            )
            continue
          }
          if (control !== null) {
            yield* carryOut(control, record, replayed, sorted, sessions)
            continue
          }
          if (replayed && parkedBefore.has(record.offset)) continue
          const decoded = decodeRecordValue(record.value, config.maxEventBytes)
          if (decoded._tag === "Left") {
            sorted.dead.push(yield* deadLetter(config.topics, metrics, record, decoded.left))
            continue
          }
          const mismatch = replayed ? null : keyMismatch(record, decoded.right)
          if (mismatch !== null) {
            sorted.dead.push(yield* deadLetter(config.topics, metrics, record, mismatch, decoded.right))
            continue
          }
          const entry = { event: decoded.right, source: record, replayed }
          if (!replayed && sessions.has(sessionKey(entry.event.tenant_id, entry.event.session_id))) {
            sorted.parked.push({ ...parkedEvent(entry, "session_quarantined", QUARANTINE_NOTE), entry })
            metrics.parkedEvents.inc({ reason: "session_quarantined" })
            metrics.events.inc({ event_type: entry.event.event_type, result: "quarantined" })
            continue
          }
          sorted.entries.push(entry)
        }
        return sorted
      })

    /** The batch's writes with what it parked and resolved. */
    const withQuarantine = (batch: AppliedBatch, sorted: Sorted): AppliedBatch => ({
      ...batch,
      writes: {
        ...batch.writes,
        parked: [...sorted.parked.map(({ entry: _, ...parked }) => parked), ...batch.writes.parked],
        resolutions: sorted.resolutions
      }
    })

    /**
     * Isolates a batch that failed for good (see quarantine.ts): its parts durable on their own,
     * the failing sessions quarantined. A batch of the partition started meanwhile is applied
     * again before it completes (`isolations`).
     */
    const isolate = (sorted: Sorted, records: ReadonlyArray<SourceRecord>, watermark: Watermark | null) =>
      Effect.gen(function* () {
        const { topic, partition } = records[0]!
        const key = partitionKey(topic, partition)
        isolations.set(key, (isolations.get(key) ?? 0) + 1)
        yield* Effect.logWarning("batch fails for good; isolating the failing session", {
          partition,
          events: sorted.entries.length
        })
        const isolated = yield* isolation.isolate(sorted.entries, partition, watermark, records[0]!.offset)
        const sessions = yield* heldOf(topic, partition)
        for (const session of isolated.quarantined) sessions.add(session)
        countHeld()
        return isolated
      })

    /**
     * Starts a batch: sorts its records and applies its entries in memory. A failed apply (a
     * store look-up) forgets what it touched and is recomputed from the stores for as long as it
     * takes, once the partition's earlier batches are `settled` (their writes are what it must
     * read); one that fails for good is isolated. Records below the watermark claim's durable
     * offset were applied under an earlier claim: they are replayed (their outputs re-published
     * from the stores), never applied again.
     */
    const start = (
      records: ReadonlyArray<SourceRecord>,
      partition: number,
      watermark: Watermark | null,
      settled: Effect.Effect<void>
    ) =>
      Effect.gen(function* () {
        const sorted = yield* sort(records, watermark)
        const idle = { applied: null, sorted, parts: [] as ReadonlyArray<AppliedBatch> }
        if (sorted.entries.length === 0 && sorted.parked.length === 0 && sorted.resolutions.length === 0)
          return idle
        const replayed = replayedCount(sorted.entries)
        if (replayed > 0) {
          metrics.replayedEvents.inc(replayed)
          yield* Effect.logInfo("records below the partition's durable offset: replayed, not applied again", {
            partition,
            replayed,
            durable_offset: watermark?.claim.durableOffset
          })
        }
        const events = sorted.entries.map((entry) => entry.event)
        const applied = yield* isolation
          .bounded("apply", core.apply(events, partition, replayed).pipe(Effect.tapError(() => settled)), {
            partition
          })
          .pipe(timed("stateful", "apply"), Effect.orDie)
        if (Either.isRight(applied))
          return { applied: withQuarantine(applied.right, sorted), sorted, parts: [] }
        yield* settled
        const isolated: Isolated = yield* isolate(sorted, records, watermark).pipe(Effect.orDie)
        return { applied: withQuarantine(isolated.batch, sorted), sorted, parts: isolated.parts }
      })

    type Started = Effect.Effect.Success<ReturnType<typeof start>>

    /**
     * Finishes a started batch: its writes durable (unavailable stores pause the write, and the same
     * writes are retried, so a half-written batch is finished, never recomputed; writes refused for
     * good isolate the batch), then its outputs and dead letters published. A fenced partition is
     * not retried: this instance is no longer its owner. Returns one result per entry.
     */
    const finish = (started: Started, records: ReadonlyArray<SourceRecord>, watermark: Watermark | null) =>
      Effect.gen(function* () {
        const { sorted } = started
        let { applied: batch, parts } = started
        const dead = [...sorted.dead]
        if (batch === null) {
          if (dead.length > 0)
            yield* sink.publish(dead).pipe(pause.untilDone("dead letters not published; retrying"))
          return [] as ReadonlyArray<EventResult>
        }
        const persisted = yield* isolation
          .bounded("persist", core.persist(batch, watermark), batchLogIds(batch))
          .pipe(
            Effect.onError(() => core.forget(batch!)),
            timed("stateful", "persist")
          )
        if (Either.isLeft(persisted)) {
          yield* core.forget(batch)
          const isolated = yield* isolate(sorted, records, watermark)
          batch = withQuarantine(isolated.batch, sorted)
          parts = isolated.parts
          // the parked events and the offset after the batch: storable by construction (validated
          // ids, bytes as bytea), so only an unavailable store delays them
          yield* core.persist(batch, watermark).pipe(
            pause.whileFailing(
              (error) => error._tag === "PersistenceError" && permanentRefusal(error) === null,
              "stores unavailable; pausing until they recover",
              batchLogIds(batch)
            ),
            Effect.catchTag("PersistenceError", (error) => Effect.die(error)),
            timed("stateful", "persist")
          )
        }
        for (const [i, result] of batch.results.entries()) {
          const why = refusal(result)
          const entry = sorted.entries[i]!
          if (why !== null)
            dead.push(yield* deadLetter(config.topics, metrics, entry.source, why, entry.event))
        }
        const published = batch
        yield* Effect.gen(function* () {
          yield* core
            .publish(published)
            .pipe(pause.untilDone("outputs not published; retrying", batchLogIds(published)))
          if (dead.length > 0)
            yield* sink.publish(dead).pipe(pause.untilDone("dead letters not published; retrying"))
        }).pipe(timed("stateful", "publish"))
        for (const part of parts) yield* core.complete(part)
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
        finish(started, records, watermark)
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
      forgetPartition(key)
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
        const key = partitionKey(batch.topic, batch.partition)
        const epoch = isolations.get(key) ?? 0
        const started = yield* start(batch.records, batch.partition, watermark, batch.settled)
        /** Applied again when an isolation of an earlier batch replaced the state it was applied on. */
        const current = Effect.suspend(() =>
          (isolations.get(key) ?? 0) === epoch
            ? Effect.succeed(started)
            : Effect.zipRight(
                started.applied === null ? Effect.void : core.forget(started.applied),
                start(batch.records, batch.partition, watermark, Effect.void)
              )
        )
        return {
          complete: Effect.gen(function* () {
            yield* Effect.flatMap(current, (ready) => finish(ready, batch.records, watermark)).pipe(
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
            forgetPartition(partitionKey(topic, partition))
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
