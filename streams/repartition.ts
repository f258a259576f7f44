/**
 * The repartition stage (Kafka mode, DESIGN 4 "one owner per customer"): producers key turn
 * events by session; this stage re-keys each one by (tenant_id, customer_id) onto the
 * by-customer topic, which the stateful stage reads. One input partition is read in order and
 * the idempotent producer keeps that order per output partition, so a session's events stay in
 * order, and every session of a customer ends up on the customer's partition. An event that names
 * no customer keeps its key: the stateful stage dead-letters it with the reason.
 */
import { customerMessageKey } from "../src/domain/model"
import type { SourceRecord } from "../src/ports/EventSource"
import type { OutputMessage } from "../src/ports/OutputSink"

/** The customer key of a raw event, or null when it is not a JSON object naming both ids. */
const customerKeyOf = (value: Buffer): string | null => {
  let json: unknown
  try {
    json = JSON.parse(value.toString("utf8"))
  } catch {
    return null
  }
  if (typeof json !== "object" || json === null) return null
  const { tenant_id, customer_id } = json as { tenant_id?: unknown; customer_id?: unknown }
  return typeof tenant_id === "string" && typeof customer_id === "string"
    ? customerMessageKey(tenant_id, customer_id)
    : null
}

export const repartitioned = (topic: string, record: SourceRecord): OutputMessage => ({
  topic,
  key: customerKeyOf(record.value) ?? record.key,
  value: record.value,
  headers: {
    source_topic: record.topic,
    source_partition: String(record.partition),
    source_offset: record.offset,
    ...(record.key === null ? {} : { source_key: record.key })
  }
})
