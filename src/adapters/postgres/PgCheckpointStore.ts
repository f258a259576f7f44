/**
 * CheckpointStore on PostgreSQL (table `audit_checkpoints`, primary key seq). An append is one
 * `INSERT ... ON CONFLICT DO NOTHING`: two instances writing the same seq, one row goes in.
 */
import { Effect, Layer } from "effect"
import type { StoredCheckpoint } from "../../domain/checkpoint"
import { CheckpointStore, CheckpointStoreError } from "../../ports/CheckpointStore"
import { PgClient, storeQuery } from "./PgClient"

const APPEND = `
INSERT INTO audit_checkpoints (seq, body, signature, heads) VALUES ($1, $2, $3, $4)
ON CONFLICT (seq) DO NOTHING`

const COLUMNS = "body, signature, heads"

export const make = Effect.gen(function* () {
  const pg = yield* PgClient
  const sql = storeQuery(pg, (operation, cause) => new CheckpointStoreError({ operation, cause }))
  type Row = StoredCheckpoint

  const append = Effect.fn("PgCheckpointStore.append")(function* (checkpoint: StoredCheckpoint) {
    const result = yield* sql("append")(APPEND, [
      checkpoint.body.seq,
      JSON.stringify(checkpoint.body),
      checkpoint.signature,
      JSON.stringify(checkpoint.heads)
    ])
    return result.rowCount === 1
  })

  const latest = Effect.fn("PgCheckpointStore.latest")(function* () {
    const result = yield* sql("latest")<Row>(
      `SELECT ${COLUMNS} FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`,
      []
    )
    return result.rows[0] ?? null
  })

  const list = Effect.fn("PgCheckpointStore.list")(function* () {
    return (yield* sql("list")<Row>(`SELECT ${COLUMNS} FROM audit_checkpoints ORDER BY seq`, [])).rows
  })

  return CheckpointStore.of({ append, latest, list })
})

export const layer: Layer.Layer<CheckpointStore, never, PgClient> = Layer.effect(CheckpointStore, make)
