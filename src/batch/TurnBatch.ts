/**
 * One batch of decoded events, with no transport and no pause policy (the stream owns those):
 * - `apply` routes each event to its session actor, in order, and collects the batch's writes,
 *   outputs and per-event results (in memory; only activation and late-turn checks read stores);
 * - `persist` makes the writes durable (Persistence: three operations, typed errors, bounded retry);
 * - `publish` sends the outputs, with those of redelivered turns rebuilt from the stores;
 * - `complete` passivates ended sessions and records telemetry.
 * A batch whose steps did not all succeed must be `forget`-ten: the actors it touched may hold
 * changes that never became durable, so the next attempt recomputes them from the stores.
 */
import { Clock, Context, Effect, FiberRef, Layer, LogLevel } from "effect"
import type { TelemetryEntry, TurnCompleted, TurnEvent, TurnRecord } from "../../schemas"
import { type FieldWrite, type ProfileAsset, type SessionRecord, sessionKey } from "../domain/model"
import { Metrics } from "../observability/Metrics"
import { TelemetryBuffer } from "../observability/TelemetryBuffer"
import { AuditStore } from "../ports/AuditStore"
import { type OutputMessage, OutputSink } from "../ports/OutputSink"
import type { ParkReason } from "../ports/QuarantineStore"
import type { TopicNames } from "../ports/Topics"
import { ActorRegistry } from "../sessions/ActorRegistry"
import type { ActorSettings, EventEffects, SessionActor } from "../sessions/SessionActor"
import { recordEffects } from "./observe"
import { memoryTaskMessage, republish, turnRecordMessage } from "./outputs"
import { type BatchWrites, Persistence, type ProfileOp, type Watermark } from "./Persistence"

export type EventResult =
  | { readonly kind: "applied"; readonly record: TurnRecord | null }
  | { readonly kind: "duplicate" }
  | { readonly kind: "ignored"; readonly reason: string }
  | { readonly kind: "out_of_order"; readonly detail: string }
  /** The session is stored under another customer: one session never moves between customers. */
  | { readonly kind: "customer_mismatch"; readonly detail: string }
  /** Parked with its session (streams/quarantine.ts). */
  | { readonly kind: "quarantined"; readonly reason: ParkReason }

export interface TurnBatchConfig extends ActorSettings {
  readonly topics: TopicNames
  /** The largest turn record published whole (streams/topics.ts, `outputValueBytes`). */
  readonly maxOutputBytes: number
  /** Memory-ingestion switch: off, no task is published (TURNVAULT_MEMORY_INGESTION=false). */
  readonly memoryIngestion: boolean
}

/** A batch after `apply`: what it decided, and what it asks the stores and sinks to do. */
export interface AppliedBatch {
  readonly partition: number
  readonly startedAt: number
  /** One result per event, in event order. */
  readonly results: ReadonlyArray<EventResult>
  readonly writes: BatchWrites
  readonly outputs: ReadonlyArray<OutputMessage>
  /** Turns already applied before: their outputs are re-published from the stored records. */
  readonly duplicates: ReadonlyArray<TurnCompleted>
  readonly ended: ReadonlyArray<SessionActor>
  readonly touched: ReadonlySet<string>
}

/** The ids every turn-related log line carries (DESIGN 7); never a customer-data value. */
const logIds = (event: TurnEvent) => ({
  tenant_id: event.tenant_id,
  session_id: event.session_id,
  event_id: event.event_id,
  ...(event.event_type === "turn.completed" ? { turn_id: event.turn_id } : {})
})

/**
 * Consecutive field writes of a batch become one op; a case closure in between keeps its place in
 * event order. The store plans the whole list at once (`ProfileStore.applyOps`).
 */
const appendWrites = (ops: Array<ProfileOp>, rows: ReadonlyArray<FieldWrite>) => {
  const last = ops.at(-1)
  // the array was created below, so it is ours to extend
  if (last?.kind === "write") (last.rows as Array<FieldWrite>).push(...rows)
  else ops.push({ kind: "write", rows: [...rows] })
}

const refOf = (event: TurnEvent) => ({
  tenant_id: event.tenant_id,
  session_id: event.session_id,
  customer_id: event.customer_id,
  agent_id: event.agent_id
})

/** A batch line names its turns (the first ones, for a large batch) and their tenants. */
export const batchLogIds = (batch: AppliedBatch) => ({
  partition: batch.partition,
  turns: batch.writes.records.length,
  tenant_ids: [...new Set(batch.writes.records.map((r) => r.tenant_id))].slice(0, 20),
  session_ids: [...new Set(batch.writes.records.map((r) => r.session_id))].slice(0, 20),
  turn_ids: batch.writes.records.slice(0, 20).map((r) => r.turn_id)
})

export const makeTurnBatch = (config: TurnBatchConfig) =>
  Effect.gen(function* () {
    const registry = yield* ActorRegistry
    const persistence = yield* Persistence
    const audit = yield* AuditStore
    const sink = yield* OutputSink
    const telemetry = yield* TelemetryBuffer
    const metrics = yield* Metrics

    /** Handles an event synchronously; only a possibly-late turn needs the audit store. */
    const handleNow = (actor: SessionActor, event: TurnEvent): EventResult | EventEffects | "check_audit" => {
      switch (event.event_type) {
        case "turn.completed": {
          const decision = actor.handleTurn(event, config)
          return decision.kind === "applied"
            ? decision.effects
            : decision.kind === "check_audit"
              ? "check_audit"
              : decision
        }
        case "session.ended": {
          const decision = actor.handleEnded(event, config)
          return decision.kind === "applied" ? decision.effects : decision
        }
        case "case.closed":
          return actor.handleCaseClosed(event)
        case "extraction.completed":
          return actor.handleExtraction(event, config)
      }
    }

    const handleChecked = (actor: SessionActor, event: TurnCompleted) =>
      Effect.map(
        audit.recordedTurns(event.tenant_id, [event.turn_id]),
        (known): EventResult | EventEffects => {
          const decision = actor.handleTurn(event, config, known.has(event.turn_id))
          return decision.kind === "applied"
            ? decision.effects
            : decision.kind === "check_audit"
              ? { kind: "duplicate" }
              : decision
        }
      )

    /** Forgets the in-memory state of the batch's sessions and of the customers they share. */
    const forgetTouched = (touched: ReadonlySet<string>) =>
      registry.dropWithCustomers((actor) => touched.has(sessionKey(actor.tenantId, actor.sessionId)))

    /** The replayed turns the stores hold a record of: applied when first delivered. */
    const recordedAmong = (events: ReadonlyArray<TurnEvent>) =>
      Effect.gen(function* () {
        const byTenant = new Map<string, Array<string>>()
        for (const event of events) {
          if (event.event_type !== "turn.completed") continue
          const ids = byTenant.get(event.tenant_id) ?? []
          byTenant.set(event.tenant_id, ids)
          ids.push(event.turn_id)
        }
        const recorded = new Set<string>()
        for (const [tenant, ids] of byTenant) {
          for (const id of yield* audit.recordedTurns(tenant, ids)) recorded.add(sessionKey(tenant, id))
        }
        return recorded
      })

    /**
     * A replayed event (below the partition's durable offset) is never applied again: its effects
     * are in the stores. A recorded turn is a duplicate (its outputs are re-published); a turn
     * without a record was refused when first handled, and is refused again.
     */
    const replayedResult = (
      actor: SessionActor,
      event: TurnEvent,
      recorded: ReadonlySet<string>
    ): EventResult => {
      if (event.event_type !== "turn.completed" || recorded.has(sessionKey(event.tenant_id, event.turn_id)))
        return { kind: "duplicate" }
      return {
        kind: "out_of_order",
        detail: `turn_number ${event.turn_number} was refused when first delivered (last applied ${
          actor.record?.state.last_turn_number ?? 0
        })`
      }
    }

    /**
     * `partition`: where the events came from, remembered by their actors (-1: unknown).
     * `replayed`: how many leading events lie below the partition's durable offset (applied already).
     */
    const apply = Effect.fn("TurnBatch.apply")(function* (
      events: ReadonlyArray<TurnEvent>,
      partition: number,
      replayed = 0
    ) {
      const touched = new Set<string>()
      return yield* Effect.gen(function* () {
        const startedAt = yield* Clock.currentTimeMillis
        yield* registry.activate(events.map(refOf), startedAt)
        const recorded = replayed === 0 ? new Set<string>() : yield* recordedAmong(events.slice(0, replayed))

        const results: Array<EventResult> = []
        const sessions = new Map<string, SessionRecord>()
        const profile: Array<ProfileOp> = []
        const assets: Array<ProfileAsset> = []
        const records: Array<TurnRecord> = []
        const history: BatchWrites["history"][number][] = []
        const outputs: Array<OutputMessage> = []
        const ended: Array<SessionActor> = []
        const duplicates: Array<TurnCompleted> = []

        // Per-event debug lines cost more than the turn itself: built only when they are shown.
        const debug = LogLevel.lessThanEqual(
          yield* FiberRef.get(FiberRef.currentMinimumLogLevel),
          LogLevel.Debug
        )

        for (let index = 0; index < events.length; index++) {
          const event = events[index]!
          const ref = refOf(event)
          const actor = registry.resident(ref, startedAt) ?? (yield* registry.get(ref, startedAt))
          actor.partition = partition
          touched.add(sessionKey(event.tenant_id, event.session_id))
          const storedCustomer = actor.record?.state.customer_id
          if (storedCustomer !== undefined && storedCustomer !== event.customer_id) {
            results.push({
              kind: "customer_mismatch",
              detail: "customer_id differs from the customer the session belongs to"
            })
            metrics.events.inc({ event_type: event.event_type, result: "dlq" })
            continue
          }
          const gapsBefore = actor.record?.state.gaps ?? 0
          const now = index < replayed ? replayedResult(actor, event, recorded) : handleNow(actor, event)
          const handled = now === "check_audit" ? yield* handleChecked(actor, event as TurnCompleted) : now
          if ("kind" in handled) {
            if (debug) {
              yield* Effect.logDebug(`${event.event_type} not applied`, { result: handled.kind }).pipe(
                Effect.annotateLogs(logIds(event))
              )
            }
            results.push(handled)
            if (handled.kind === "duplicate" && event.event_type === "turn.completed") duplicates.push(event)
            metrics.events.inc({
              event_type: event.event_type,
              result: handled.kind === "out_of_order" ? "dlq" : handled.kind
            })
            continue
          }
          const effects = handled
          if (effects.session !== null)
            sessions.set(sessionKey(event.tenant_id, event.session_id), effects.session)
          if (effects.history !== null) history.push(effects.history)
          if (effects.profileWrites.length > 0) appendWrites(profile, effects.profileWrites)
          if (effects.expireCase !== null) profile.push({ kind: "expire_case", ...effects.expireCase })
          if (effects.assets.length > 0) assets.push(...effects.assets)
          if (effects.record !== null) {
            records.push(effects.record)
            outputs.push(turnRecordMessage(config.topics, effects.record, config.maxOutputBytes))
          }
          if (effects.memoryTask !== null && config.memoryIngestion)
            outputs.push(memoryTaskMessage(config.topics, effects.memoryTask))
          if (event.event_type === "session.ended") ended.push(actor)
          recordEffects(metrics, effects, gapsBefore)
          // Field names and statuses only: values (possibly PII) never reach the logs.
          if (debug) {
            yield* Effect.logDebug(`${event.event_type} applied`, {
              resolution: effects.record?.outcome.resolution,
              updates: effects.record?.customer_data_updates.map((u) => `${u.field_name}:${u.status}`)
            }).pipe(Effect.annotateLogs(logIds(event)))
          }
          metrics.events.inc({ event_type: event.event_type, result: "applied" })
          results.push({ kind: "applied", record: effects.record })
        }
        const writes: BatchWrites = {
          sessions: [...sessions.values()],
          profile,
          assets,
          records,
          history,
          parked: [],
          resolutions: []
        }
        return {
          partition,
          startedAt,
          results,
          writes,
          outputs,
          duplicates,
          ended,
          touched
        } satisfies AppliedBatch
      }).pipe(Effect.onError(() => forgetTouched(touched)))
    })

    const persist = (batch: AppliedBatch, watermark: Watermark | null = null) =>
      persistence.persist(batch.writes, watermark).pipe(Effect.withSpan("TurnBatch.persist"))

    const publish = Effect.fn("TurnBatch.publish")(function* (batch: AppliedBatch) {
      const outputs =
        batch.duplicates.length === 0
          ? batch.outputs
          : [...batch.outputs, ...(yield* republish(audit, config.topics, batch.duplicates, config))]
      if (outputs.length === 0) return
      yield* sink.publish(outputs)
      for (const message of outputs) metrics.outputsPublished.inc({ topic: message.topic })
    })

    const complete = (batch: AppliedBatch) =>
      Effect.gen(function* () {
        for (const actor of batch.ended) yield* registry.passivate(actor.tenantId, actor.sessionId)
        const finished = yield* Clock.currentTimeMillis
        const perTurn = (finished - batch.startedAt) / 1000
        const recordedAt = new Date(finished).toISOString()
        const entries: Array<TelemetryEntry> = []
        for (const record of batch.writes.records) {
          metrics.turnDuration.observe(perTurn)
          entries.push({
            kind: "turn",
            tenant_id: record.tenant_id,
            session_id: record.session_id,
            turn_id: record.turn_id,
            recorded_at: recordedAt,
            duration_ms: finished - batch.startedAt,
            resolution: record.outcome.resolution
          })
        }
        yield* telemetry.recordAll(entries)
        metrics.activeActors.set(registry.size())
      })

    return {
      apply,
      persist,
      publish,
      complete,
      forget: (batch: AppliedBatch) => forgetTouched(batch.touched),
      /** A rebalance took these partitions away: their sessions are another instance's now. */
      revoke: (partitions: ReadonlyArray<number>) => {
        const lost = new Set(partitions)
        return registry.dropWhere((actor) => lost.has(actor.partition))
      }
    }
  })

export class TurnBatch extends Context.Tag("turnvault/TurnBatch")<
  TurnBatch,
  Effect.Effect.Success<ReturnType<typeof makeTurnBatch>>
>() {
  static readonly layer = (config: TurnBatchConfig) => Layer.effect(TurnBatch, makeTurnBatch(config))
}
