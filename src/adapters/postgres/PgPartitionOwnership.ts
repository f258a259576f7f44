/**
 * PartitionOwnership on PostgreSQL (table `partition_owners`). `advance` runs inside the batch's
 * transaction (the ambient connection), first: its UPDATE holds the partition's row until COMMIT,
 * so a new owner's `claim` waits for a batch the old owner has in flight, then fences the rest.
 */
import { Effect, Layer } from "effect"
import { OwnershipStoreError, PartitionFenced, PartitionOwnership } from "../../ports/PartitionOwnership"
import { PgClient } from "./PgClient"

const CLAIM = `
INSERT INTO partition_owners AS o (consumer_group, topic, partition, generation)
VALUES ($1, $2, $3, 1)
ON CONFLICT (consumer_group, topic, partition)
  DO UPDATE SET generation = o.generation + 1, updated_at = now()
RETURNING generation, durable_offset`

const ADVANCE = `
UPDATE partition_owners SET durable_offset = $5, updated_at = now()
WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND generation = $4`

const LOAD = `
SELECT generation, durable_offset FROM partition_owners
WHERE consumer_group = $1 AND topic = $2 AND partition = $3`

interface OwnerRow {
  readonly generation: string
  readonly durable_offset: string | null
}

const fromRow = (row: OwnerRow) => ({
  generation: Number(row.generation),
  durableOffset: row.durable_offset === null ? null : String(row.durable_offset)
})

export const make = Effect.map(PgClient, (pg) => {
  const sql = <R extends object>(
    operation: "claim" | "advance" | "load",
    text: string,
    params: ReadonlyArray<unknown>
  ) =>
    Effect.mapError(
      pg.query<R & Record<string, unknown>>(text, params),
      (error) => new OwnershipStoreError({ operation, cause: error.cause })
    )
  return PartitionOwnership.of({
    claim: (group, topic, partition) =>
      Effect.map(sql<OwnerRow>("claim", CLAIM, [group, topic, partition]), (result) => ({
        group,
        topic,
        partition,
        ...fromRow(result.rows[0]!)
      })),
    advance: (claim, offset) =>
      Effect.flatMap(
        sql("advance", ADVANCE, [claim.group, claim.topic, claim.partition, claim.generation, offset]),
        (result) =>
          result.rowCount === 1
            ? Effect.void
            : Effect.fail(
                new PartitionFenced({
                  topic: claim.topic,
                  partition: claim.partition,
                  generation: claim.generation
                })
              )
      ),
    load: (group, topic, partition) =>
      Effect.map(sql<OwnerRow>("load", LOAD, [group, topic, partition]), (result) =>
        result.rows[0] === undefined ? null : fromRow(result.rows[0])
      )
  })
})

export const layer: Layer.Layer<PartitionOwnership, never, PgClient> = Layer.effect(PartitionOwnership, make)
