/**
 * The output messages of applied turns, and their re-publication for redelivered turns: a crash
 * after the stores committed but before the outputs were published leaves the offset uncommitted,
 * so the turn comes back, is found already applied, and its outputs are published again from the
 * stored record (consumers de-duplicate by turn_id).
 */
import { Effect } from "effect"
import type { MemoryIngestionTask, TurnCompleted, TurnRecord } from "../../schemas"
import type { TopicNames } from "../ports/Topics"
import { memoryTaskFor } from "../sessions/SessionActor"
import type { OutputMessage } from "../ports/OutputSink"
import type { AuditStoreService } from "../ports/AuditStore"

/** The lists a published record may be cut short in, in the order they get the budget. */
const TRUNCATED_LISTS = [
  "customer_data_updates",
  "matched_rule_ids",
  "policy_violations",
  "matched_rules",
  "tool_executions",
  "missing_fields"
] as const
type TruncatedList = (typeof TRUNCATED_LISTS)[number]

/** The lists of v1's first records, counted in `truncated` even when nothing was left off. */
const ALWAYS_COUNTED: ReadonlySet<TruncatedList> = new Set([
  "customer_data_updates",
  "matched_rule_ids",
  "policy_violations"
])

/**
 * The turn record as published: whole when it fits in `maxBytes`, else with the last entries of its
 * lists left off and `truncated` counting them. A turn record can outgrow its event (an update
 * entry per candidate variable, however small), and a message the broker refuses would be retried
 * for ever; the stored record stays whole (the consumer reads the rest, and checks `hash`, there).
 */
export const publishedRecord = (record: TurnRecord, maxBytes: number): string => {
  const whole = JSON.stringify(record)
  if (Buffer.byteLength(whole) <= maxBytes) return whole
  // lists written before a field existed are absent and stay absent
  const lists = TRUNCATED_LISTS.filter((list) => record[list] !== undefined)
  const entries = (list: TruncatedList): ReadonlyArray<unknown> => record[list] ?? []
  const shell: Record<string, unknown> = { ...record }
  for (const list of lists) shell[list] = []
  const truncated = (kept: (list: TruncatedList) => number) =>
    Object.fromEntries(
      lists
        .map((list) => [list, entries(list).length - kept(list)] as const)
        .filter(([list, left]) => left > 0 || ALWAYS_COUNTED.has(list))
    )
  // the counts' digits at their largest, so that the final text cannot outgrow the budget
  let budget = maxBytes - Buffer.byteLength(JSON.stringify({ ...shell, truncated: truncated(() => 0) }))
  const kept = new Map<TruncatedList, number>()
  for (const list of lists) {
    let count = 0
    for (const entry of entries(list)) {
      const bytes = Buffer.byteLength(JSON.stringify(entry)) + 1
      if (bytes > budget) break
      budget -= bytes
      count++
    }
    kept.set(list, count)
  }
  const cut: Record<string, unknown> = { ...record }
  for (const list of lists) cut[list] = entries(list).slice(0, kept.get(list))
  return JSON.stringify({ ...cut, truncated: truncated((list) => kept.get(list) ?? 0) })
}

export const turnRecordMessage = (
  topics: TopicNames,
  record: TurnRecord,
  maxBytes: number
): OutputMessage => ({
  topic: topics.turnRecords,
  key: record.session_id,
  value: publishedRecord(record, maxBytes),
  headers: { turn_id: record.turn_id }
})

export const memoryTaskMessage = (topics: TopicNames, task: MemoryIngestionTask): OutputMessage => ({
  topic: topics.memoryIngestion,
  key: task.session_id,
  value: JSON.stringify(task),
  headers: { turn_id: task.turn_id }
})

/** Outputs of duplicate turns that the audit store holds a record for. */
export const republish = (
  audit: AuditStoreService,
  topics: TopicNames,
  duplicates: ReadonlyArray<TurnCompleted>,
  options: { readonly maxOutputBytes: number; readonly memoryIngestion: boolean }
) =>
  Effect.gen(function* () {
    const byTenant = new Map<string, Array<TurnCompleted>>()
    for (const event of duplicates) {
      const list = byTenant.get(event.tenant_id) ?? []
      list.push(event)
      byTenant.set(event.tenant_id, list)
    }
    const messages: Array<OutputMessage> = []
    for (const [tenantId, events] of byTenant) {
      const records = yield* audit.findRecords(
        tenantId,
        events.map((e) => e.turn_id)
      )
      const byTurn = new Map(records.map((r) => [r.turn_id, r]))
      for (const event of events) {
        const record = byTurn.get(event.turn_id)
        if (record === undefined) continue
        messages.push(turnRecordMessage(topics, record, options.maxOutputBytes))
        if (options.memoryIngestion)
          messages.push(memoryTaskMessage(topics, memoryTaskFor(event, record.missing_fields)))
      }
    }
    return messages
  })
