/**
 * The topic catalogue: every topic turnvault reads or writes, with its key, partitions, retention
 * and cleanup policy. `turnvault topics ensure` creates them from this table; docs/TOPICS.md is
 * generated from the same data.
 */
import type { TopicNames } from "../src/ports/Topics"
import { DEFAULT_MAX_EVENT_BYTES } from "./decode"

export interface TopicSpec {
  readonly name: string
  readonly role: "input" | "internal" | "output"
  readonly key: string
  readonly value: string
  readonly partitions: number
  readonly retentionMs: number
  readonly cleanupPolicy: "delete" | "compact"
  /** The topic's `max.message.bytes`: what the broker accepts in one record batch. */
  readonly maxMessageBytes: number
  readonly description: string
}

const DAY = 24 * 60 * 60 * 1000

export const topicNames = (prefix: string): TopicNames => ({
  turnEvents: `${prefix}turn-events`,
  byCustomer: `${prefix}turn-events.by-customer`,
  dlq: `${prefix}turn-events.dlq`,
  memoryIngestion: `${prefix}memory-ingestion`,
  memoryIngestionDlq: `${prefix}memory-ingestion.dlq`,
  turnRecords: `${prefix}turn-records`,
  telemetry: `${prefix}telemetry`,
  auditCheckpoints: `${prefix}audit-checkpoints`,
  erasures: `${prefix}erasures`
})

export type { TopicNames }

/** Room for keys, headers and the record batch's own overhead, on top of the values. */
const HEADROOM = 64 * 1024
/** The output sink groups up to 1 MiB of messages in one send: no topic accepts less. */
const GROUP_BYTES = 1024 * 1024

/**
 * The largest value turnvault publishes on the turn-records and memory-ingestion topics (their
 * `max.message.bytes` less the headroom for keys and headers). A memory-ingestion task carries the
 * event's two texts, so it stays below the event's own size; a turn record can outgrow its event
 * (one update entry per candidate variable, however small the variable), so a larger one is
 * published with its lists cut (src/batch/outputs.ts, `publishedRecord`).
 */
export const outputValueBytes = (maxEventBytes: number = DEFAULT_MAX_EVENT_BYTES) =>
  2 * Math.max(maxEventBytes, GROUP_BYTES)

/**
 * Topics are created with an explicit `max.message.bytes`, derived from the largest event accepted
 * (TURNVAULT_MAX_EVENT_BYTES): the input, the by-customer topic, the DLQ and telemetry hold at most
 * one event's bytes per message; a memory-ingestion task or a turn record carries an event's texts
 * plus what turnvault adds (the turn's outcome and updates), so those take twice as much.
 */
export const topicCatalogue = (
  prefix: string,
  partitions: number,
  maxEventBytes: number = DEFAULT_MAX_EVENT_BYTES
): ReadonlyArray<TopicSpec> => {
  const names = topicNames(prefix)
  const eventSized = Math.max(maxEventBytes, GROUP_BYTES) + HEADROOM
  const outputSized = outputValueBytes(maxEventBytes) + HEADROOM
  return [
    {
      name: names.turnEvents,
      role: "input",
      key: "session_id",
      value: "TurnEvent (schemas/json/turn-event.schema.json)",
      partitions,
      retentionMs: 7 * DAY,
      cleanupPolicy: "delete",
      maxMessageBytes: eventSized,
      description: "One event per conversation turn or session/case change, from agent runtimes"
    },
    {
      name: names.byCustomer,
      role: "internal",
      key: '["tenant_id","customer_id"] as JSON (the original key when the event names no customer)',
      value: "the input message as it came, with its source topic/partition/offset in headers",
      partitions,
      retentionMs: 7 * DAY,
      cleanupPolicy: "delete",
      maxMessageBytes: eventSized,
      description:
        "The input re-keyed by customer, so each customer (with all of its sessions) has one owner: the stateful stage reads this. Also carries operators' quarantine release/drop control messages (header turnvault_control)"
    },
    {
      name: names.dlq,
      role: "output",
      key: "session_id (or null when the key was missing)",
      value: "the original bytes; reason, detail and source topic/partition/offset in headers",
      partitions,
      retentionMs: 30 * DAY,
      cleanupPolicy: "delete",
      maxMessageBytes: eventSized,
      description: "Malformed, schema-violating and out-of-order events, never processed"
    },
    {
      name: names.memoryIngestion,
      role: "output",
      key: "session_id",
      value: "MemoryIngestionTask (schemas/json/memory-ingestion-task.schema.json)",
      partitions,
      retentionMs: 7 * DAY,
      cleanupPolicy: "delete",
      maxMessageBytes: outputSized,
      description: "One task per applied turn for memory ingestors; never dropped"
    },
    {
      name: names.memoryIngestionDlq,
      role: "output",
      key: "session_id",
      value: "IngestionDeadLetter (schemas/json/ingestion-dead-letter.schema.json)",
      partitions,
      retentionMs: 30 * DAY,
      cleanupPolicy: "delete",
      maxMessageBytes: outputSized,
      description:
        "Memory-ingestion tasks the ingest worker gave up on (a provider that kept failing, an answer that stayed invalid), with the reason; replay them onto turnvault.memory-ingestion"
    },
    {
      name: names.turnRecords,
      role: "output",
      key: "session_id",
      value: "TurnRecord (schemas/json/turn-record.schema.json)",
      partitions,
      retentionMs: 30 * DAY,
      cleanupPolicy: "delete",
      maxMessageBytes: outputSized,
      description: "The audit record of each applied turn with its outcome, for analytics"
    },
    {
      name: names.telemetry,
      role: "output",
      key: "session_id",
      value: "TelemetryEntry (schemas/json/telemetry-entry.schema.json)",
      partitions,
      retentionMs: 3 * DAY,
      cleanupPolicy: "delete",
      maxMessageBytes: eventSized,
      description: "Per-turn processing telemetry; may drop under overload (counted)"
    },
    {
      name: names.auditCheckpoints,
      role: "output",
      key: "seq (decimal text)",
      value: "AuditCheckpoint (schemas/json/audit-checkpoint.schema.json)",
      // one partition: the checkpoints are one sequence, read back in order by `verify --checkpoints`
      partitions: 1,
      // kept for ever, one message per seq: the witness outside the database (decision 0018)
      retentionMs: -1,
      cleanupPolicy: "compact",
      maxMessageBytes: eventSized,
      description:
        "Signed Merkle roots over the audit chains' heads, every TURNVAULT_CHECKPOINT_INTERVAL_MS; `turnvault verify --checkpoints` reads them back"
    },
    {
      name: names.erasures,
      role: "output",
      key: '["tenant_id","customer_id"] as JSON',
      value: "ErasureEvent (schemas/json/erasure-event.schema.json)",
      partitions,
      // kept for ever, the latest per customer: a consumer that starts late still learns of every erasure
      retentionMs: -1,
      cleanupPolicy: "compact",
      maxMessageBytes: eventSized,
      description:
        "One message per `turnvault erase`: the customer's receipt (no values), for downstream consumers to erase too"
    }
  ]
}
