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

export const turnRecordMessage = (topics: TopicNames, record: TurnRecord): OutputMessage => ({
  topic: topics.turnRecords,
  key: record.session_id,
  value: JSON.stringify(record),
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
  duplicates: ReadonlyArray<TurnCompleted>
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
        messages.push(turnRecordMessage(topics, record), memoryTaskMessage(topics, memoryTaskFor(event)))
      }
    }
    return messages
  })
