/**
 * The dead-letter policy: a record that cannot be applied goes to the DLQ topic as it came (same
 * key and value), with headers saying why and where it came from; the warning it logs names its
 * tenant, session and turn, never a value.
 */
import { Effect } from "effect"
import type { TurnEvent } from "../schemas"
import type { MetricsService } from "../src/observability/Metrics"
import type { SourceRecord } from "../src/ports/EventSource"
import type { OutputMessage } from "../src/ports/OutputSink"
import type { TopicNames } from "../src/ports/Topics"

export interface DeadLetterReason {
  readonly reason: string
  readonly detail: string
}

/**
 * Where the record came from: its input message, when the repartition stage recorded it in the
 * headers, else the record itself.
 */
const originOf = (record: SourceRecord) => {
  const h = record.headers
  return h?.source_topic !== undefined && h.source_partition !== undefined && h.source_offset !== undefined
    ? {
        key: h.source_key ?? null,
        topic: h.source_topic,
        partition: h.source_partition,
        offset: h.source_offset
      }
    : { key: record.key, topic: record.topic, partition: String(record.partition), offset: record.offset }
}

const sourceOf = (record: SourceRecord) => {
  const origin = originOf(record)
  return { source_topic: origin.topic, source_partition: origin.partition, source_offset: origin.offset }
}

/**
 * The ids of an event that failed to decode, where they are present and strings, so that its DLQ
 * log line still names its tenant, session and turn. Nothing else of the payload is logged.
 */
const idsOfRaw = (raw: Buffer): Record<string, string> => {
  let json: unknown
  try {
    json = JSON.parse(raw.toString("utf8"))
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

const idsOf = (event: TurnEvent) => ({
  tenant_id: event.tenant_id,
  session_id: event.session_id,
  event_id: event.event_id,
  ...(event.event_type === "turn.completed" ? { turn_id: event.turn_id } : {})
})

/**
 * The DLQ message: the input message as it came (its original key and its very bytes), with the
 * reason. A `too_large` event is the exception: whatever limit the DLQ topic has, some event would
 * exceed it again and stall the partition, so its value is left out (header `value_omitted`); the
 * original stays at its source topic, partition and offset for the topic's retention
 * (docs/decisions/0012-oversized-events-leave-their-bytes-on-the-input-topic.md).
 */
export const dlqMessage = (
  topics: TopicNames,
  record: SourceRecord,
  why: DeadLetterReason
): OutputMessage => {
  const headers = { reason: why.reason, detail: why.detail, ...sourceOf(record) }
  return why.reason === "too_large"
    ? {
        topic: topics.dlq,
        key: originOf(record).key,
        value: Buffer.alloc(0),
        headers: { ...headers, value_omitted: "true" }
      }
    : { topic: topics.dlq, key: originOf(record).key, value: record.value, headers }
}

/** The DLQ message of `record`, counted and logged; `event` when it decoded (e.g. out of order). */
export const deadLetter = (
  topics: TopicNames,
  metrics: MetricsService,
  record: SourceRecord,
  why: DeadLetterReason,
  event?: TurnEvent
) => {
  metrics.dlqMessages.inc({ reason: why.reason })
  return Effect.logWarning("event dead-lettered", why).pipe(
    Effect.annotateLogs({
      ...sourceOf(record),
      // an oversized value is not parsed again just for the ids of a log line
      ...(event !== undefined ? idsOf(event) : why.reason === "too_large" ? {} : idsOfRaw(record.value))
    }),
    Effect.as(dlqMessage(topics, record, why))
  )
}
