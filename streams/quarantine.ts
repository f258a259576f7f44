/**
 * Quarantine (issue 12): no event and no session can stop a partition.
 *
 * A batch whose apply or persist fails for good (`storeRefusal`: an SQLSTATE that retrying does not
 * change, or a defect) is retried a few times, then *isolated*: it is split by customer, a failing
 * customer's events by session, a failing session's events one by one, each part applied and made
 * durable on its own. The first event of a session that still fails is parked, with every later
 * event of that session (in this batch and in the batches after, until an operator acts); the other
 * sessions of the partition are processed as usual. Transient failures (an unavailable store) are
 * never isolated: they pause the partition as before.
 *
 * The parts are durable before the batch is: each part's unit of work keeps the partition's durable
 * offset where the batch began, so a crash mid-way redelivers the whole batch, whose applied parts
 * are then duplicates (turns are idempotent). The parked events and the offset after the batch
 * are written last, in the batch's own unit.
 *
 * Operators act through control messages on the stateful stage's topic (header
 * `turnvault_control`, keyed like the session's events so that they land on its partition):
 * the partition's owner reads it in the stream's order, so the parked events are released (applied
 * in their order, before anything the session sent later) or dropped (to the DLQ) exactly there.
 */
import { Effect, Either, Schedule } from "effect"
import type { TurnEvent } from "../schemas"
import type { AppliedBatch, EventResult, TurnBatch } from "../src/batch/TurnBatch"
import { type Watermark, noWrites } from "../src/batch/Persistence"
import { causeChain, permanentRefusal, sqlStateOf } from "../src/batch/storeRefusal"
import { customerMessageKey, sessionKey } from "../src/domain/model"
import type { MetricsService } from "../src/observability/Metrics"
import type { SourceRecord } from "../src/ports/EventSource"
import type { OutputMessage } from "../src/ports/OutputSink"
import type { PartitionFenced } from "../src/ports/PartitionOwnership"
import type { ParkReason, ParkedEvent, StoredParkedEvent } from "../src/ports/QuarantineStore"
import type { PausePolicy } from "./PausePolicy"

/** The header that makes a record of the stateful stage an operator's control message. */
export const CONTROL_HEADER = "turnvault_control"

export type ControlAction = "release" | "drop"

export interface ControlMessage {
  readonly action: ControlAction
  readonly tenant_id: string
  readonly session_id: string
}

/** The control message an operator publishes to release or drop a quarantined session. */
export const controlMessage = (
  topic: string,
  action: ControlAction,
  session: { readonly tenant_id: string; readonly session_id: string; readonly customer_id: string }
): OutputMessage => ({
  topic,
  key: customerMessageKey(session.tenant_id, session.customer_id),
  value: JSON.stringify({ tenant_id: session.tenant_id, session_id: session.session_id }),
  headers: { [CONTROL_HEADER]: action }
})

/** The control message a record carries, `invalid` when its header is set but the rest is wrong, else null. */
export const controlOf = (record: SourceRecord): ControlMessage | "invalid" | null => {
  const action = record.headers?.[CONTROL_HEADER]
  if (action === undefined) return null
  if (action !== "release" && action !== "drop") return "invalid"
  try {
    const body = JSON.parse(record.value.toString("utf8")) as { tenant_id?: unknown; session_id?: unknown }
    return typeof body.tenant_id === "string" && typeof body.session_id === "string"
      ? { action, tenant_id: body.tenant_id, session_id: body.session_id }
      : "invalid"
  } catch {
    return "invalid"
  }
}

/** The id a control message resolves parked events by: where it sits in the log. */
export const controlId = (record: SourceRecord) => `${record.topic}/${record.partition}/${record.offset}`

/** One decoded event of a batch, where it came from, and whether it lies below the durable offset. */
export interface Entry {
  readonly event: TurnEvent
  readonly source: SourceRecord
  readonly replayed: boolean
}

/** Text PostgreSQL can hold: no NUL, no lone surrogate (a defect's message may carry anything). */
const storable = (text: string) => Buffer.from(text.replaceAll("\u0000", "\\0"), "utf8").toString("utf8")

/** Why an event waits in quarantine: an earlier one of its session is parked. */
export const QUARANTINE_NOTE = "an earlier event of the session is parked"

export const parkedEvent = (entry: Entry, reason: ParkReason, error: string): ParkedEvent => ({
  tenant_id: entry.event.tenant_id,
  session_id: entry.event.session_id,
  customer_id: entry.event.customer_id,
  event_id: entry.event.event_id,
  turn_id: entry.event.event_type === "turn.completed" ? entry.event.turn_id : null,
  topic: entry.source.topic,
  partition: entry.source.partition,
  offset: entry.source.offset,
  key: entry.source.key,
  value: entry.source.value,
  headers: entry.source.headers ?? {},
  reason,
  error: storable(error)
})

/** A parked event's record as the stateful stage first read it (to apply it again, or dead-letter it). */
export const recordOf = (row: StoredParkedEvent): SourceRecord => ({
  topic: row.topic,
  partition: row.partition,
  offset: row.offset,
  key: row.key,
  value: row.value,
  headers: row.headers
})

/** Why a part failed for good: what is parked with its first event. */
interface Refusal {
  readonly reason: ParkReason
  /** For the quarantine table (may quote a value). */
  readonly error: string
  /** For the log line: an SQLSTATE or a defect's name, never a value. */
  readonly code: string
}

/** A failure that retrying does not change, as a refusal; null when it is transient. */
const refusalOf = (stage: "apply" | "persist", error: unknown): Refusal | null => {
  const state = permanentRefusal(error)
  if (state === null) return null
  const reason = stage === "apply" ? "apply_failed" : "store_refused"
  const message = (coded(error, state) as { message?: unknown } | undefined)?.message
  return {
    reason,
    error: `SQLSTATE ${state}: ${typeof message === "string" ? message : "refused"}`,
    code: state
  }
}

/** The error in the cause chain that carries this SQLSTATE. */
const coded = (error: unknown, state: string) => causeChain(error).find((link) => sqlStateOf(link) === state)

const defectRefusal = (defect: unknown): Refusal => ({
  reason: "apply_failed",
  error: `defect: ${defect instanceof Error ? `${defect.name}: ${defect.message}` : String(defect)}`,
  code: defect instanceof Error ? defect.name : "defect"
})

/** Groups entry positions by a key, in first-seen order, each group in entry order. */
const groupBy = (positions: ReadonlyArray<number>, keyOf: (position: number) => string) => {
  const groups = new Map<string, Array<number>>()
  for (const position of positions) {
    const key = keyOf(position)
    const group = groups.get(key)
    if (group === undefined) groups.set(key, [position])
    else group.push(position)
  }
  return [...groups.values()]
}

export interface IsolationConfig {
  /** Attempts of a part that fails for good before it is split further (or parked). */
  readonly attempts: number
  /**
   * Whether a batch's writes are one atomic unit (PostgreSQL). Without one (the in-memory stores)
   * a refused write may leave the batch's other writes done: the batch cannot be recomputed in
   * parts, so its writes are retried as they are, for as long as it takes (as before quarantine).
   */
  readonly atomic: boolean
}

export interface Isolated {
  /** The batch as one: a result per entry, the parts' outputs, and the parked events to write. */
  readonly batch: AppliedBatch
  /** The parts made durable on their own: completed (telemetry, passivation) after the batch. */
  readonly parts: ReadonlyArray<AppliedBatch>
  /** Sessions quarantined by this isolation. */
  readonly quarantined: ReadonlyArray<string>
}

export const makeIsolation = (
  core: TurnBatch["Type"],
  pause: PausePolicy,
  metrics: MetricsService,
  config: IsolationConfig
) => {
  /**
   * Runs a part's step: transient failures pause and retry for as long as it takes; a failure for
   * good is retried `attempts` times in all, then returned as a refusal. PartitionFenced fails.
   */
  const bounded = <A, E extends { readonly _tag: string }>(
    stage: "apply" | "persist",
    step: Effect.Effect<A, E>,
    annotations: Record<string, unknown>
  ): Effect.Effect<Either.Either<A, Refusal>, PartitionFenced> => {
    type Failure = E | { readonly _tag: "Defect"; readonly defect: unknown }
    const isFenced = (error: Failure): error is Failure & PartitionFenced => error._tag === "PartitionFenced"
    const isolatable = stage === "apply" || config.atomic
    const refusal = (error: Failure): Refusal | null =>
      "defect" in error
        ? defectRefusal(error.defect)
        : isFenced(error) || !isolatable
          ? null
          : refusalOf(stage, error)
    const retried = step.pipe(
      pause.whileFailing(
        (error: E) => !isFenced(error) && refusal(error) === null,
        "stores unavailable; pausing until they recover",
        annotations
      )
    )
    const once: Effect.Effect<A, Failure> = isolatable
      ? Effect.catchAllDefect(retried, (defect) => Effect.fail({ _tag: "Defect", defect } as const))
      : retried
    return once.pipe(
      Effect.retry({
        schedule: Schedule.spaced("10 millis"),
        times: Math.max(0, config.attempts - 1),
        while: (error) => refusal(error) !== null
      }),
      Effect.map((value) => Either.right(value)),
      Effect.catchAll((error) => {
        const refused = refusal(error)
        if (refused !== null) return Effect.succeed(Either.left(refused))
        return isFenced(error) ? Effect.fail(error) : Effect.die(error)
      })
    )
  }

  /** One part: applied and made durable on its own (the offset kept where the batch began). */
  const part = (
    events: ReadonlyArray<TurnEvent>,
    replayed: number,
    partition: number,
    watermark: Watermark | null
  ) =>
    Effect.gen(function* () {
      const ids = {
        partition,
        events: events.length,
        session_ids: [...new Set(events.map((e) => e.session_id))].slice(0, 20)
      }
      const applied = yield* bounded("apply", core.apply(events, partition, replayed), ids)
      if (Either.isLeft(applied)) return applied
      const persisted = yield* bounded("persist", core.persist(applied.right, watermark), ids)
      if (Either.isLeft(persisted)) {
        yield* core.forget(applied.right)
        return Either.left(persisted.left)
      }
      return Either.right(applied.right)
    })

  /**
   * Splits `entries` until every part either is durable or is a session whose first failing event
   * is parked, with that session's later events. `parked` (the batch's own, already set aside) is
   * written with the new ones, with the partition's offset after the batch, by the caller.
   */
  const isolate = (
    entries: ReadonlyArray<Entry>,
    partition: number,
    watermark: Watermark | null,
    firstOffset: string
  ) =>
    Effect.gen(function* () {
      const results: Array<EventResult | undefined> = new Array(entries.length)
      const parts: Array<AppliedBatch> = []
      const parked: Array<ParkedEvent> = []
      const quarantined: Array<string> = []
      // The parts keep the durable offset where the batch began (never behind the claim's); released
      // entries carry their old offsets, so the batch's first record says where that is.
      const first = firstOffset
      const held =
        watermark === null
          ? null
          : {
              claim: watermark.claim,
              offset:
                watermark.claim.durableOffset !== null &&
                BigInt(watermark.claim.durableOffset) > BigInt(first)
                  ? watermark.claim.durableOffset
                  : first
            }

      const attempt = (positions: ReadonlyArray<number>) => {
        const events = positions.map((p) => entries[p]!.event)
        let replayed = 0
        while (replayed < positions.length && entries[positions[replayed]!]!.replayed) replayed++
        return Effect.tap(part(events, replayed, partition, held), (outcome) =>
          Effect.sync(() => {
            if (Either.isLeft(outcome)) return
            parts.push(outcome.right)
            for (const [i, position] of positions.entries()) results[position] = outcome.right.results[i]
          })
        )
      }

      const park = (positions: ReadonlyArray<number>, refusal: Refusal) =>
        Effect.gen(function* () {
          const head = entries[positions[0]!]!
          quarantined.push(sessionKey(head.event.tenant_id, head.event.session_id))
          for (const [i, position] of positions.entries()) {
            const reason = i === 0 ? refusal.reason : "session_quarantined"
            const error = i === 0 ? refusal.error : QUARANTINE_NOTE
            parked.push(parkedEvent(entries[position]!, reason, error))
            results[position] = { kind: "quarantined", reason }
            metrics.parkedEvents.inc({ reason })
          }
          yield* Effect.logError(
            "session quarantined: its event fails for good; it and the session's later events are parked",
            {
              code: refusal.code,
              reason: refusal.reason,
              parked: positions.length
            }
          ).pipe(
            Effect.annotateLogs({
              partition,
              tenant_id: head.event.tenant_id,
              session_id: head.event.session_id,
              event_id: head.event.event_id,
              ...(head.event.event_type === "turn.completed" ? { turn_id: head.event.turn_id } : {})
            })
          )
        })

      const settle = (
        positions: ReadonlyArray<number>
      ): Effect.Effect<void, Effect.Effect.Error<ReturnType<typeof part>>> =>
        Effect.gen(function* () {
          const outcome = yield* attempt(positions)
          if (Either.isRight(outcome)) return
          const event = (p: number) => entries[p]!.event
          const customers = groupBy(positions, (p) =>
            customerMessageKey(event(p).tenant_id, event(p).customer_id)
          )
          if (customers.length > 1) return yield* Effect.forEach(customers, settle, { discard: true })
          const sessions = groupBy(positions, (p) => sessionKey(event(p).tenant_id, event(p).session_id))
          if (sessions.length > 1) return yield* Effect.forEach(sessions, settle, { discard: true })
          if (positions.length === 1) return yield* park(positions, outcome.left)
          // one session: its events one by one, up to the first that fails
          for (const [i, position] of positions.entries()) {
            const single = yield* attempt([position])
            if (Either.isLeft(single)) return yield* park(positions.slice(i), single.left)
          }
        })

      yield* settle(entries.map((_, i) => i))
      const batch: AppliedBatch = {
        partition,
        startedAt: parts[0]?.startedAt ?? 0,
        results: results.map((result) => result ?? { kind: "ignored", reason: "isolated" }),
        writes: { ...noWrites, parked },
        outputs: parts.flatMap((p) => p.outputs),
        duplicates: parts.flatMap((p) => p.duplicates),
        ended: [],
        touched: new Set(parts.flatMap((p) => [...p.touched]))
      }
      return { batch, parts, quarantined } satisfies Isolated
    })

  return { isolate, bounded }
}
