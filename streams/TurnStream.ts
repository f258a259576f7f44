/**
 * The stream wiring, independent of the log that feeds it: raw records of one partition ->
 * decode (bad -> DLQ) -> TurnProcessor (actors, persistence, outputs) -> out-of-order -> DLQ.
 * `handleBatch` returns only when everything it was given is durable or dead-lettered, so the
 * caller may then commit the offset past the batch.
 */
import { Effect, Either, Schedule } from "effect"
import type { TurnEvent } from "../schemas"
import { decodeTurnEvent } from "./decode"
import { TurnProcessor } from "../src/batch/TurnBatch"
import { type OutputMessage, OutputSink } from "../src/ports/OutputSink"
import { Metrics } from "../src/observability/Metrics"
import type { TopicNames } from "./topics"

export interface RawRecord {
  readonly topic: string
  readonly partition: number
  readonly offset: string
  readonly key: string | null
  readonly value: string
}

export const dlqMessage = (
  topics: TopicNames,
  record: RawRecord,
  reason: string,
  detail: string
): OutputMessage => ({
  topic: topics.dlq,
  key: record.key,
  value: record.value,
  headers: {
    reason,
    detail,
    source_topic: record.topic,
    source_partition: String(record.partition),
    source_offset: record.offset
  }
})

const sourceOf = (record: RawRecord) => ({
  source_topic: record.topic,
  source_partition: record.partition,
  source_offset: record.offset
})

/**
 * The ids of an event that failed to decode, where they are present and strings, so that its DLQ
 * log line still names its tenant, session and turn. Nothing else of the payload is logged.
 */
const idsOf = (raw: string): Record<string, string> => {
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch {
    return {}
  }
  if (typeof json !== "object" || json === null) return {}
  const ids: Record<string, string> = {}
  for (const key of ["tenant_id", "session_id", "turn_id", "event_id"]) {
    const value = (json as Record<string, unknown>)[key]
    if (typeof value === "string") ids[key] = value
  }
  return ids
}

/** What `handleBatch` needs from its context. */
export type HandleBatchContext = TurnProcessor | OutputSink | Metrics

export const handleBatch = (topics: TopicNames, records: ReadonlyArray<RawRecord>) =>
  Effect.gen(function* () {
    const processor = yield* TurnProcessor
    const sink = yield* OutputSink
    const metrics = yield* Metrics
    const dead: Array<OutputMessage> = []
    const events: Array<TurnEvent> = []
    const sources: Array<RawRecord> = []
    for (const record of records) {
      const decoded = decodeTurnEvent(record.value)
      if (Either.isLeft(decoded)) {
        dead.push(dlqMessage(topics, record, decoded.left.reason, decoded.left.detail))
        metrics.dlqMessages.inc({ reason: decoded.left.reason })
        yield* Effect.logWarning("event dead-lettered", decoded.left).pipe(
          Effect.annotateLogs({ ...sourceOf(record), ...idsOf(record.value) })
        )
        continue
      }
      events.push(decoded.right)
      sources.push(record)
    }
    // A store error during look-ups fails the attempt (its actors are dropped); it is retried
    // until the store answers. A transient store error never sends anything to the DLQ.
    const results =
      events.length === 0
        ? []
        : yield* processor.process(events, records[0]?.partition ?? -1).pipe(
            Effect.tapError((error) =>
              error._tag === "SessionsFenced"
                ? Effect.logWarning("stale session owner fenced: recomputing the batch from the stores", {
                    sessions: error.sessions.length
                  })
                : Effect.logWarning("batch failed on a store error; retrying", error)
            ),
            Effect.retry(Schedule.spaced("1 second"))
          )
    for (const [i, result] of results.entries()) {
      if (result.kind !== "out_of_order") continue
      const event = events[i]!
      dead.push(dlqMessage(topics, sources[i]!, "out_of_order", result.detail))
      metrics.dlqMessages.inc({ reason: "out_of_order" })
      yield* Effect.logWarning("event dead-lettered", { reason: "out_of_order", detail: result.detail }).pipe(
        Effect.annotateLogs({
          ...sourceOf(sources[i]!),
          tenant_id: event.tenant_id,
          session_id: event.session_id,
          event_id: event.event_id,
          ...(event.event_type === "turn.completed" ? { turn_id: event.turn_id } : {})
        })
      )
    }
    if (dead.length > 0) yield* sink.publish(dead).pipe(Effect.retry(Schedule.spaced("1 second")))
    return results
  })
