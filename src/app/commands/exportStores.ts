/**
 * Writes the export files of DESIGN 9 (sessions, profile fields, turn records) and the sessions'
 * history ledgers from the configured stores. `process` and `export` both end here, so a Kafka run can be diffed
 * against a `process` run.
 */
import { Data, Effect } from "effect"
import type { TurnRecord } from "../../../schemas"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { sortKeys } from "../../domain/hash"
import { derivedFrom } from "../../domain/fieldWritePlan"
import type { ProfileField, SessionHistoryEntry } from "../../domain/model"
import { AuditStore } from "../../ports/AuditStore"
import { ProfileStore } from "../../ports/ProfileStore"
import { SessionStore } from "../../ports/SessionStore"

const jsonl = (rows: ReadonlyArray<unknown>) =>
  rows.map((row) => JSON.stringify(row)).join("\n") + (rows.length > 0 ? "\n" : "")

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

const profileOrder = (a: ProfileField, b: ProfileField) =>
  compare(a.tenant_id, b.tenant_id) ||
  compare(a.customer_id, b.customer_id) ||
  compare(a.name, b.name) ||
  compare(a.updated_at, b.updated_at) ||
  compare(a.source_item_id, b.source_item_id)

/** The export directory or one of its files could not be written. */
export class ExportWriteError extends Data.TaggedError("ExportWriteError")<{
  readonly path: string
  readonly cause: unknown
}> {}

/** A ledger entry as exported and printed by `turnvault history`: every field, in a fixed order. */
export const historyRow = (entry: SessionHistoryEntry) => ({
  tenant_id: entry.tenant_id,
  session_id: entry.session_id,
  seq: entry.seq,
  event_key: entry.event_key,
  turn_id: entry.turn_id,
  reason: entry.reason,
  from_status: entry.from_status,
  to_status: entry.to_status,
  actor: entry.actor,
  occurred_at: entry.occurred_at,
  prev_content_hash: entry.prev_content_hash,
  new_content_hash: entry.new_content_hash,
  entry_hash: entry.entry_hash
})

export const writeFile_ = (dir: string, name: string, text: string) =>
  Effect.tryPromise({
    try: () => writeFile(join(dir, name), text),
    catch: (cause) => new ExportWriteError({ path: join(dir, name), cause })
  })

/** A turn record as `turn_records.jsonl` has it (DESIGN 9's shape, plus missing fields where any). */
export const exportedRecord = (record: TurnRecord) => ({
  tenant_id: record.tenant_id,
  session_id: record.session_id,
  turn_id: record.turn_id,
  turn_number: record.turn_number,
  // DESIGN 9's shape: the categories' source and details stay in the stored record
  outcome: {
    resolution: record.outcome.resolution,
    categories: record.outcome.categories.map(({ category, scenario_id, step_id }) =>
      sortKeys({
        category,
        ...(scenario_id === undefined ? {} : { scenario_id }),
        ...(step_id === undefined ? {} : { step_id })
      })
    )
  },
  customer_data_updates: record.customer_data_updates.map((u) => ({
    field_name: u.field_name,
    status: u.status,
    ...(u.validation_error === undefined ? {} : { validation_error: u.validation_error })
  })),
  // what the active scenario step still needs, where it needs anything
  ...(record.missing_fields === undefined || record.missing_fields.length === 0
    ? {}
    : { missing_fields: record.missing_fields.map((m) => sortKeys(m)) })
})

export const exportStores = (dir: string) =>
  Effect.gen(function* () {
    const sessions = yield* SessionStore
    const profiles = yield* ProfileStore
    const audit = yield* AuditStore
    yield* Effect.tryPromise({
      try: () => mkdir(dir, { recursive: true }),
      catch: (cause) => new ExportWriteError({ path: dir, cause })
    })

    const sessionRows = (yield* sessions.list({})).map(({ state, content_hash }) => ({
      tenant_id: state.tenant_id,
      session_id: state.session_id,
      customer_id: state.customer_id,
      status: state.status,
      turn_count: state.turn_count,
      last_turn_number: state.last_turn_number,
      variables: sortKeys(
        Object.fromEntries(Object.entries(state.variables).map(([name, entry]) => [name, entry.value]))
      ),
      content_hash
    }))
    const fieldRows = [...(yield* profiles.list({ includeHistory: true }))].sort(profileOrder).map((row) => ({
      tenant_id: row.tenant_id,
      customer_id: row.customer_id,
      name: row.name,
      value: sortKeys(row.value),
      scope: row.scope,
      status: row.status,
      source_item_id: row.source_item_id,
      superseded_by_id: row.superseded_by_id,
      case_id: row.case_id,
      // lineage, where the row names its sources (section 3.6)
      ...(derivedFrom(row).length === 0 ? {} : { derived_from: derivedFrom(row) })
    }))
    const recordRows = (yield* audit.listRecords({})).map(exportedRecord)
    const historyRows = (yield* audit.listHistory({})).map(historyRow)
    const assetRows = (yield* profiles.listAssets({})).map((asset) => sortKeys(asset))
    yield* writeFile_(dir, "sessions.jsonl", jsonl(sessionRows))
    yield* writeFile_(dir, "profile_fields.jsonl", jsonl(fieldRows))
    yield* writeFile_(dir, "turn_records.jsonl", jsonl(recordRows))
    yield* writeFile_(dir, "session_history.jsonl", jsonl(historyRows))
    yield* writeFile_(dir, "profile_assets.jsonl", jsonl(assetRows))
    return {
      sessions: sessionRows.length,
      profileFields: fieldRows.length,
      turnRecords: recordRows.length,
      historyEntries: historyRows.length,
      assets: assetRows.length
    }
  })

export { jsonl }
