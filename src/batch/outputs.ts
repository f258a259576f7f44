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

const TRUNCATED_LISTS = ["customer_data_updates", "matched_rule_ids", "policy_violations"] as const

/**
 * The turn record as published: whole when it fits in `maxBytes`, else with the last entries of its
 * lists left off and `truncated` counting them. A turn record can outgrow its event (an update
 * entry per candidate variable, however small), and a message the broker refuses would be retried
 * for ever; the stored record stays whole (the consumer reads the rest, and checks `hash`, there).
 */
export const publishedRecord = (record: TurnRecord, maxBytes: number): string => {
  const whole = JSON.stringify(record)
  if (Buffer.byteLength(whole) <= maxBytes) return whole
  const kept = { customer_data_updates: 0, matched_rule_ids: 0, policy_violations: 0 }
  const shell = { ...record, customer_data_updates: [], matched_rule_ids: [], policy_violations: [] }
  // the counts' digits at their largest, so that the final text cannot outgrow the budget
  const counts = Object.fromEntries(TRUNCATED_LISTS.map((list) => [list, record[list].length]))
  let budget = maxBytes - Buffer.byteLength(JSON.stringify({ ...shell, truncated: counts }))
  for (const list of TRUNCATED_LISTS) {
    for (const entry of record[list]) {
      const bytes = Buffer.byteLength(JSON.stringify(entry)) + 1
      if (bytes > budget) break
      budget -= bytes
      kept[list]++
    }
  }
  return JSON.stringify({
    ...record,
    customer_data_updates: record.customer_data_updates.slice(0, kept.customer_data_updates),
    matched_rule_ids: record.matched_rule_ids.slice(0, kept.matched_rule_ids),
    policy_violations: record.policy_violations.slice(0, kept.policy_violations),
    truncated: Object.fromEntries(TRUNCATED_LISTS.map((list) => [list, record[list].length - kept[list]]))
  })
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
  maxBytes: number
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
        messages.push(
          turnRecordMessage(topics, record, maxBytes),
          memoryTaskMessage(topics, memoryTaskFor(event))
        )
      }
    }
    return messages
  })
