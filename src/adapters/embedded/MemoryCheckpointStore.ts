/** In-memory CheckpointStore: the checkpoints of this process, by seq. */
import { Effect, Layer } from "effect"
import type { StoredCheckpoint } from "../../domain/checkpoint"
import { CheckpointStore, type CheckpointStoreService } from "../../ports/CheckpointStore"

export const make = (): CheckpointStoreService => {
  const checkpoints = new Map<number, StoredCheckpoint>()
  const bySeq = () => [...checkpoints.values()].sort((a, b) => a.body.seq - b.body.seq)
  return {
    append: (checkpoint) =>
      Effect.sync(() => {
        if (checkpoints.has(checkpoint.body.seq)) return false
        checkpoints.set(checkpoint.body.seq, checkpoint)
        return true
      }),
    latest: () => Effect.sync(() => bySeq().at(-1) ?? null),
    list: () => Effect.sync(bySeq)
  }
}

export const layer: Layer.Layer<CheckpointStore> = Layer.sync(CheckpointStore, make)
