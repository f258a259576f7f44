/**
 * Processes a batch of decoded events in order: routes each to its session actor, collects the
 * writes, persists them (Persistence), then publishes outputs. Returns once every applied event is
 * durable and its outputs are published: only then may the caller acknowledge the batch.
 * While a store is down, `process` keeps retrying (the partition pauses); nothing is dropped.
 */
import { Clock, Context, type Duration, Effect, Exit, FiberRef, Layer, LogLevel, Schedule } from "effect"
import type { TurnCompleted, TurnEvent, TurnRecord } from "../../schemas"
import type { ActorSettings, EventEffects, SessionActor } from "../sessions/SessionActor"
import { ActorRegistry } from "../sessions/ActorRegistry"
import { type ProfileField, type SessionRecord, sessionKey } from "../domain/model"
import { type BatchWrites, Persistence, type PersistenceError, type ProfileOp } from "./Persistence"
import { type OutputMessage, OutputSink } from "../ports/OutputSink"
import { TelemetryBuffer } from "../observability/TelemetryBuffer"
import { AuditStore } from "../ports/AuditStore"
import { Metrics } from "../observability/Metrics"
import type { TopicNames } from "../../streams/topics"
import { recordEffects } from "./observe"
import { memoryTaskMessage, republish, turnRecordMessage } from "./outputs"

export type EventResult =
  | { readonly kind: "applied"; readonly record: TurnRecord | null }
  | { readonly kind: "duplicate" }
  | { readonly kind: "ignored"; readonly reason: string }
  | { readonly kind: "out_of_order"; readonly detail: string }

export interface TurnProcessorConfig extends ActorSettings {
  readonly topics: TopicNames
  /** Delay between attempts while the stores are unavailable. */
  readonly pauseDelay: Duration.DurationInput
}

/** The ids every turn-related log line carries (DESIGN 7); never a customer-data value. */
const logIds = (event: TurnEvent) => ({
  tenant_id: event.tenant_id,
  session_id: event.session_id,
  event_id: event.event_id,
  ...(event.event_type === "turn.completed" ? { turn_id: event.turn_id } : {})
})

/**
 * Consecutive field writes of a batch become one `writeFields` call (one round trip per statement
 * type for the whole batch); a case closure in between keeps its place in event order.
 */
const appendWrites = (ops: Array<ProfileOp>, rows: ReadonlyArray<ProfileField>) => {
  const last = ops.at(-1)
  // the array was created below, so it is ours to extend
  if (last?.kind === "write") (last.rows as Array<ProfileField>).push(...rows)
  else ops.push({ kind: "write", rows: [...rows] })
}

const refOf = (event: TurnEvent) => ({
  tenant_id: event.tenant_id,
  session_id: event.session_id,
  customer_id: event.customer_id,
  agent_id: event.agent_id
})

export const makeTurnProcessor = (config: TurnProcessorConfig) =>
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

    /** `partition`: where the events came from, remembered by their actors (-1: unknown). */
    const process = (events: ReadonlyArray<TurnEvent>, partition = -1) => {
      const touched = new Map<string, SessionActor>()
      return Effect.gen(function* () {
        const started = yield* Clock.currentTimeMillis
        yield* registry.activate(events.map(refOf), started)

        const results: Array<EventResult> = []
        const sessions = new Map<string, SessionRecord>()
        const profile: Array<ProfileOp> = []
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

        for (const event of events) {
          const ref = refOf(event)
          const actor = registry.resident(ref, started) ?? (yield* registry.get(ref, started))
          actor.partition = partition
          touched.set(sessionKey(event.tenant_id, event.session_id), actor)
          const gapsBefore = actor.record?.state.gaps ?? 0
          const now = handleNow(actor, event)
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
          if (effects.record !== null) {
            records.push(effects.record)
            outputs.push(turnRecordMessage(config.topics, effects.record))
          }
          if (effects.memoryTask !== null) outputs.push(memoryTaskMessage(config.topics, effects.memoryTask))
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

        const writes: BatchWrites = { sessions: [...sessions.values()], profile, records, history }
        // A batch line names its turns (the first ones, for a large batch) and their tenants.
        const batchIds = {
          partition,
          turns: records.length,
          tenant_ids: [...new Set(records.map((r) => r.tenant_id))].slice(0, 20),
          session_ids: [...new Set(records.map((r) => r.session_id))].slice(0, 20),
          turn_ids: records.slice(0, 20).map((r) => r.turn_id)
        }
        const pauseWarning = (error: PersistenceError) =>
          Effect.logWarning("stores unavailable; pausing until they recover", {
            failed: error.failures.map((f) => f.operation)
          }).pipe(Effect.annotateLogs(batchIds))
        const { fenced } = yield* persistence.persist(writes).pipe(
          // A store outage pauses this batch (and so its partition) until the writes succeed.
          // Only the pause is interruptible: shutdown never cuts a healthy write short.
          Effect.catchTag("PersistenceError", (error) =>
            pauseWarning(error).pipe(
              Effect.zipRight(
                persistence.persist(writes).pipe(
                  Effect.tapErrorTag("PersistenceError", pauseWarning),
                  Effect.retry({
                    schedule: Schedule.spaced(config.pauseDelay),
                    while: (e) => e._tag === "PersistenceError"
                  }),
                  Effect.interruptible
                )
              )
            )
          )
        )
        // (SessionsFenced from an atomic unit propagates: the batch's actors are dropped on exit and
        // the caller recomputes the batch from the stores, where its turns are now duplicates.)
        if (fenced.length > 0) {
          const stale = new Set(fenced.map((f) => sessionKey(f.tenant_id, f.session_id)))
          yield* Effect.logWarning("stale session owner fenced; dropping its actors", {
            sessions: fenced.length
          }).pipe(
            Effect.annotateLogs({
              partition,
              tenant_ids: [...new Set(fenced.map((f) => f.tenant_id))].slice(0, 20),
              session_ids: fenced.slice(0, 20).map((f) => f.session_id)
            })
          )
          yield* registry.dropWhere((actor) => stale.has(sessionKey(actor.tenantId, actor.sessionId)))
        }
        if (duplicates.length > 0) outputs.push(...(yield* republish(audit, config.topics, duplicates)))
        if (outputs.length > 0) {
          yield* sink.publish(outputs).pipe(Effect.retry(Schedule.spaced(config.pauseDelay)))
          for (const message of outputs) metrics.outputsPublished.inc({ topic: message.topic })
        }
        for (const actor of ended) yield* registry.passivate(actor.tenantId, actor.sessionId)
        const finished = yield* Clock.currentTimeMillis
        const perTurn = (finished - started) / 1000
        for (const record of records) {
          metrics.turnDuration.observe(perTurn)
          yield* telemetry.record({
            kind: "turn",
            tenant_id: record.tenant_id,
            session_id: record.session_id,
            turn_id: record.turn_id,
            recorded_at: new Date(finished).toISOString(),
            duration_ms: finished - started,
            resolution: record.outcome.resolution
          })
        }
        metrics.activeActors.set(registry.size())
        return results
      }).pipe(
        // Failed or interrupted before the end: forget the in-memory state of the touched
        // sessions, so that the retry or redelivery recomputes from what the stores hold.
        Effect.onExit((exit) =>
          Exit.isSuccess(exit)
            ? Effect.void
            : registry.dropWithCustomers((actor) => touched.has(sessionKey(actor.tenantId, actor.sessionId)))
        )
      )
    }

    return { process }
  })

export class TurnProcessor extends Context.Tag("turnvault/TurnProcessor")<
  TurnProcessor,
  Effect.Effect.Success<ReturnType<typeof makeTurnProcessor>>
>() {
  static readonly layer = (config: TurnProcessorConfig) =>
    Layer.effect(TurnProcessor, makeTurnProcessor(config))
}
