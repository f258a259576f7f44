/**
 * The ingest worker's core (`turnvault ingest`, issue 15), on ports only: one batch of
 * memory-ingestion tasks in, for each task
 *   1. skip it when the turn has a result already (at-least-once input, de-duplicated by turn_id);
 *   2. ask the model for the customer data the turn states: the agent's profile fields (described,
 *      never their values), the required fields the scenario step still lacks first (gap fill);
 *   3. judge the answer field by field (domain/extraction.ts: unknown field, invalid value dropped
 *      and counted; below 0.8 confidence flagged needs_human_review);
 *   4. publish the kept values as an `extraction.completed` event on the turn-events topic, keyed
 *      by session, so the one pipeline applies them with lineage (src/domain/inference.ts): the
 *      batch's events in one send, at its end;
 *   5. roll the session's summary forward (asked at the same time as the extraction);
 *   6. record the result (template, model, counts), which makes the turn done: the batch's results
 *      in one statement, after its events are published.
 * A model that keeps failing (after retries with backoff, Retry-After honoured) or keeps answering
 * unusably sends the task to the ingestion DLQ with the reason. A store or the log being down is
 * not the task's fault: those steps are retried until they succeed, which pauses the worker.
 *
 * Tasks of one session run in order (its summary is a chain); sessions run concurrently, at most
 * `tenantConcurrency` at a time per tenant, so one busy tenant cannot take every model slot.
 */
import { Clock, Duration, Effect, Either, Option, Schedule, Schema } from "effect"
import {
  type ExtractionCompleted,
  type IngestionDeadLetter,
  MemoryIngestionTask,
  type FieldDefinition
} from "../../schemas"
import { acceptAnswer, fieldView } from "../domain/extraction"
import { type IngestionResult, IngestionStore, type SessionSummary } from "../ports/IngestionStore"
import { LlmError } from "../ports/LlmProvider"
import { type AnswerInvalid, MemoryModel, type ModelReply } from "../ports/MemoryModel"
import { type OutputMessage, OutputSink } from "../ports/OutputSink"
import { ProfileStore } from "../ports/ProfileStore"
import { clearTaskTexts, TaskTexts } from "../ports/TaskTexts"
import { IngestMetrics } from "../observability/IngestMetrics"

export interface IngestConfig {
  /** Where extraction events go: the pipeline's input topic. */
  readonly turnEventsTopic: string
  readonly dlqTopic: string
  /** Tries of one model request in all. */
  readonly attempts: number
  /** The first retry's wait when the provider gives no Retry-After; doubled each try. */
  readonly retryBaseMs: number
  /** Sessions of one tenant processed at the same time. */
  readonly tenantConcurrency: number
  /** Keep a rolling summary per session. */
  readonly summaries: boolean
}

/** One message of the memory-ingestion topic, as the transport read it. */
export interface RawTask {
  readonly key: string | null
  readonly value: string | Buffer
}

/** How many turn ids a summary names: the newest, for a session that runs long. */
export const MAX_COVERED = 1000

const decodeTask = Schema.decodeUnknownEither(Schema.parseJson(MemoryIngestionTask), {
  onExcessProperty: "ignore"
})

/** A step that only a store or the log can fail: tried again until it succeeds (5 s apart at most). */
const durable = <A, E extends { readonly _tag: string }, R>(step: string, effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.tapError((error) =>
      Effect.logWarning("ingest worker paused: a store or the log failed; trying again", {
        step,
        error: error._tag
      })
    ),
    Effect.retry(
      Schedule.exponential(Duration.millis(200)).pipe(
        Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.seconds(5)))
      )
    ),
    // the schedule never ends: no error comes out
    Effect.orDie
  )

type GaveUp = {
  readonly reason: IngestionDeadLetter["reason"]
  readonly detail: string
  readonly attempts: number
}

const profileFields = (defs: ReadonlyArray<FieldDefinition>) =>
  defs.filter((def) => def.scope !== "SESSION" && def.persist)

export const makeIngestWorker = (config: IngestConfig) =>
  Effect.gen(function* () {
    const store = yield* IngestionStore
    const profiles = yield* ProfileStore
    const model = yield* MemoryModel
    const sink = yield* OutputSink
    const metrics = yield* IngestMetrics
    // sealed texts (TURNVAULT_KEK) are opened with the customers' keys; without, they pass as they are
    const texts = Option.getOrElse(yield* Effect.serviceOption(TaskTexts), () => clearTaskTexts)

    /** Asks the model, trying a retryable failure again; Left when it gave up. */
    const ask = <A>(
      call: "extract" | "summarise",
      request: () => Effect.Effect<ModelReply<A>, LlmError | AnswerInvalid>
    ): Effect.Effect<Either.Either<ModelReply<A>, GaveUp>> =>
      Effect.gen(function* () {
        for (let attempt = 1; ; attempt++) {
          const started = yield* Clock.currentTimeMillis
          const result = yield* Effect.either(request())
          const seconds = ((yield* Clock.currentTimeMillis) - started) / 1000
          metrics.providerDuration.observe(
            { call, outcome: result._tag === "Right" ? "ok" : "error" },
            seconds
          )
          if (result._tag === "Right") {
            const reply = result.right
            metrics.tokens.inc({ model: reply.model, direction: "in" }, reply.tokensIn)
            metrics.tokens.inc({ model: reply.model, direction: "out" }, reply.tokensOut)
            return Either.right(reply)
          }
          const error = result.left
          const invalid = !(error instanceof LlmError)
          const detail = invalid ? `the model's answer: ${error.detail}` : error.message
          const retryable = invalid || error.retryable
          if (!retryable || attempt >= config.attempts)
            return Either.left({
              reason: invalid ? "invalid_answer" : "provider_failed",
              detail: `${call}: ${detail} (${attempt} ${attempt === 1 ? "try" : "tries"})`,
              attempts: attempt
            } satisfies GaveUp)
          const kind = invalid ? "invalid_answer" : error.kind
          metrics.providerRetries.inc({ kind })
          const waitMs = (invalid ? undefined : error.retryAfterMs) ?? config.retryBaseMs * 2 ** (attempt - 1)
          yield* Effect.logWarning("model request failed; trying again", {
            call,
            kind,
            attempt,
            retry_in_ms: waitMs
          })
          yield* Effect.sleep(Duration.millis(waitMs))
        }
      })

    const deadLetter = (raw: RawTask, task: unknown, gaveUp: GaveUp) =>
      Effect.gen(function* () {
        const letter: IngestionDeadLetter = {
          reason: gaveUp.reason,
          detail: gaveUp.detail,
          attempts: gaveUp.attempts,
          failed_at: new Date(yield* Clock.currentTimeMillis).toISOString(),
          task
        }
        yield* durable(
          "dead-letter",
          sink.publish([{ topic: config.dlqTopic, key: raw.key, value: JSON.stringify(letter) }])
        )
        metrics.tasks.inc({ result: "dead_lettered" })
        yield* Effect.logWarning("memory-ingestion task dead-lettered", {
          reason: gaveUp.reason,
          detail: gaveUp.detail
        })
      })

    /** What a batch's processed tasks leave to publish and record, once, at its end. */
    interface Finished {
      readonly events: Array<OutputMessage>
      readonly results: Array<IngestionResult>
      /** Per session, the summary this batch saved last: its next task builds on it unread. */
      readonly summaries: Map<string, SessionSummary>
    }

    /**
     * One task whose turn has no result yet; `fields`: the agent's profile fields. Its summary is
     * saved (the session's next task builds on it) and a dead letter sent at once; its event and
     * result join `finished`.
     */
    const processTask = (
      raw: RawTask,
      task: MemoryIngestionTask,
      fields: ReadonlyArray<FieldDefinition>,
      finished: Finished
    ) =>
      Effect.gen(function* () {
        const byName = new Map(fields.map((def) => [def.name, def]))
        const missing = (task.missing_fields ?? []).flatMap((m) => {
          const def = byName.get(m.field_name)
          return def === undefined
            ? []
            : [{ name: def.name, collection_prompt: def.collection_prompt ?? null }]
        })
        const sessionKey = `${task.tenant_id}\u0000${task.session_id}`
        const previous: SessionSummary | null = !config.summaries
          ? null
          : (finished.summaries.get(sessionKey) ??
            (yield* durable("summary", store.summary(task.tenant_id, task.session_id))))

        // The two requests are independent (the summary builds on the previous summary, not on
        // this extraction): asked at once, a task takes one model round trip, not two.
        const summarise = config.summaries && !(previous?.covers_turn_ids.includes(task.turn_id) ?? false)
        const [extraction, summary] = yield* Effect.all(
          [
            ask("extract", () =>
              model.extract({
                fields: fields.map(fieldView),
                missing,
                summary: previous?.summary ?? null,
                userMessage: task.user_message,
                agentResponse: task.agent_response
              })
            ),
            summarise
              ? ask("summarise", () =>
                  model.summarise({
                    previous: previous?.summary ?? null,
                    userMessage: task.user_message,
                    agentResponse: task.agent_response
                  })
                )
              : Effect.succeed(null)
          ],
          { concurrency: 2 }
        )
        if (summary !== null && summary._tag === "Right") {
          const next: SessionSummary = {
            tenant_id: task.tenant_id,
            session_id: task.session_id,
            customer_id: task.customer_id,
            summary: summary.right.value,
            covers_turn_ids: [...(previous?.covers_turn_ids ?? []), task.turn_id].slice(-MAX_COVERED),
            through_turn_number: Math.max(previous?.through_turn_number ?? 0, task.turn_number),
            template: summary.right.template,
            model: summary.right.model,
            updated_at: new Date(yield* Clock.currentTimeMillis).toISOString()
          }
          yield* durable("save summary", store.saveSummary(next))
          finished.summaries.set(sessionKey, next)
        }
        // a redelivery of a dead-lettered task redoes only what failed: the summary covers the turn
        if (extraction._tag === "Left") return yield* deadLetter(raw, task, extraction.left)
        const reply = extraction.right
        const accepted = acceptAnswer(reply.value, fields)
        for (const value of accepted.values)
          metrics.values.inc({
            field: value.name,
            outcome: value.needs_human_review ? "held_for_review" : "kept"
          })
        for (const dropped of accepted.dropped)
          metrics.values.inc({
            field: dropped.reason === "unknown_field" ? "<unknown>" : dropped.name,
            outcome: dropped.reason
          })

        if (accepted.values.length > 0) {
          const event: ExtractionCompleted = {
            schema_version: 1,
            event_type: "extraction.completed",
            event_id: `extraction:${task.turn_id}`,
            tenant_id: task.tenant_id,
            agent_id: task.agent_id,
            session_id: task.session_id,
            customer_id: task.customer_id,
            occurred_at: task.occurred_at,
            ...(task.case_id === undefined ? {} : { case_id: task.case_id }),
            turn_id: task.turn_id,
            template: reply.template,
            model: reply.model,
            candidate_variables: Object.fromEntries(
              accepted.values.map((v) => [
                v.name,
                {
                  value: v.value,
                  confidence: v.confidence,
                  needs_human_review: v.needs_human_review,
                  derived_from: [`turn:${task.turn_id}`]
                }
              ])
            )
          }
          finished.events.push({
            topic: config.turnEventsTopic,
            key: task.session_id,
            value: JSON.stringify(event)
          })
        }

        if (summary !== null && summary._tag === "Left") return yield* deadLetter(raw, task, summary.left)

        finished.results.push({
          tenant_id: task.tenant_id,
          turn_id: task.turn_id,
          session_id: task.session_id,
          customer_id: task.customer_id,
          completed_at: new Date(yield* Clock.currentTimeMillis).toISOString(),
          template: reply.template,
          model: reply.model,
          extracted: accepted.values.length,
          needs_review: accepted.values.filter((v) => v.needs_human_review).length,
          dropped: accepted.dropped.map((d) => ({ name: d.name, reason: d.reason }))
        })
      })

    const tenantSlots = new Map<string, Effect.Semaphore>()
    const slotOf = (tenantId: string) => {
      let slot = tenantSlots.get(tenantId)
      if (slot === undefined) {
        slot = Effect.unsafeMakeSemaphore(config.tenantConcurrency)
        tenantSlots.set(tenantId, slot)
      }
      return slot
    }

    /** Processes a batch: every task ends processed, a duplicate, or dead-lettered. */
    /**
     * Processes a batch: every task ends processed, a duplicate, or dead-lettered. What the tasks
     * share is read once per batch: which turns are done (per tenant), the agents' definitions.
     */
    const handle = (batch: ReadonlyArray<RawTask>) =>
      Effect.gen(function* () {
        const sessions = new Map<string, { tenant: string; tasks: Array<[RawTask, MemoryIngestionTask]> }>()
        const turnsOf = new Map<string, Set<string>>()
        for (const raw of batch) {
          const text = typeof raw.value === "string" ? raw.value : raw.value.toString("utf8")
          const decoded = decodeTask(text)
          if (decoded._tag === "Left") {
            let task: unknown = text
            try {
              task = JSON.parse(text)
            } catch {}
            yield* deadLetter(raw, task, {
              reason: "malformed_task",
              detail: "not a memory-ingestion task (schemas/json/memory-ingestion-task.schema.json)",
              attempts: 0
            })
            continue
          }
          const task = decoded.right
          const turns = turnsOf.get(task.tenant_id) ?? new Set<string>()
          turnsOf.set(task.tenant_id, turns)
          if (turns.has(task.turn_id)) {
            // delivered twice in one batch: the first one does it
            metrics.tasks.inc({ result: "duplicate" })
            continue
          }
          turns.add(task.turn_id)
          const key = `${task.tenant_id}\u0000${task.session_id}`
          const entry = sessions.get(key) ?? { tenant: task.tenant_id, tasks: [] }
          sessions.set(key, entry)
          entry.tasks.push([raw, task])
        }
        // the texts, opened (one look-up for the batch): a task of an erased customer has none
        // left, and is done with
        const entries = [...sessions.values()]
        const opened = yield* durable(
          "open texts",
          texts.open(entries.flatMap((entry) => entry.tasks.map(([, task]) => task)))
        )
        let next = 0
        for (const entry of entries)
          entry.tasks = entry.tasks.flatMap(([raw]): Array<[RawTask, MemoryIngestionTask]> => {
            const task = opened[next++]
            if (task != null) return [[raw, task]]
            metrics.tasks.inc({ result: "erased" })
            return []
          })
        const done = new Set<string>()
        for (const [tenant, turns] of turnsOf)
          for (const turnId of yield* durable("completed", store.completed(tenant, [...turns])))
            done.add(`${tenant}\u0000${turnId}`)
        const definitions = new Map<string, ReadonlyArray<FieldDefinition>>()
        for (const { tasks } of sessions.values())
          for (const [, task] of tasks) {
            const key = `${task.tenant_id}\u0000${task.agent_id}`
            if (definitions.has(key) || done.has(`${task.tenant_id}\u0000${task.turn_id}`)) continue
            definitions.set(
              key,
              profileFields(
                yield* durable("definitions", profiles.loadDefinitions(task.tenant_id, task.agent_id))
              )
            )
          }
        const finished: Finished = { events: [], results: [], summaries: new Map() }
        yield* Effect.forEach(
          sessions.values(),
          ({ tenant, tasks }) =>
            slotOf(tenant).withPermits(1)(
              Effect.forEach(tasks, ([raw, task]) => {
                if (done.has(`${task.tenant_id}\u0000${task.turn_id}`))
                  return Effect.sync(() => metrics.tasks.inc({ result: "duplicate" }))
                const fields = definitions.get(`${task.tenant_id}\u0000${task.agent_id}`) ?? []
                return processTask(raw, task, fields, finished).pipe(
                  Effect.annotateLogs({
                    tenant_id: task.tenant_id,
                    session_id: task.session_id,
                    turn_id: task.turn_id
                  })
                )
              })
            ),
          { concurrency: "unbounded", discard: true }
        )
        // the events before the results: a turn is done only once its values are on their way
        if (finished.events.length > 0) yield* durable("publish", sink.publish(finished.events))
        if (finished.results.length > 0) yield* durable("record", store.record(finished.results))
        for (const result of finished.results)
          metrics.tasks.inc({ result: result.extracted > 0 ? "extracted" : "nothing_found" })
      })

    return { handle }
  })
