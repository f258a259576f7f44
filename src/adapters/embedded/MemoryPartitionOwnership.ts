/** PartitionOwnership in memory: the generations and durable offsets of one process. */
import { Effect, Layer } from "effect"
import { PartitionFenced, PartitionOwnership } from "../../ports/PartitionOwnership"

export const make = Effect.sync(() => {
  const rows = new Map<string, { generation: number; durableOffset: string | null }>()
  const key = (group: string, topic: string, partition: number) => JSON.stringify([group, topic, partition])
  return PartitionOwnership.of({
    claim: (group, topic, partition) =>
      Effect.sync(() => {
        const row = rows.get(key(group, topic, partition))
        const generation = (row?.generation ?? 0) + 1
        const durableOffset = row?.durableOffset ?? null
        rows.set(key(group, topic, partition), { generation, durableOffset })
        return { group, topic, partition, generation, durableOffset }
      }),
    advance: (claim, offset) =>
      Effect.suspend(() => {
        const row = rows.get(key(claim.group, claim.topic, claim.partition))
        if (row === undefined || row.generation !== claim.generation) {
          return Effect.fail(
            new PartitionFenced({
              topic: claim.topic,
              partition: claim.partition,
              generation: claim.generation
            })
          )
        }
        row.durableOffset = offset
        return Effect.void
      }),
    load: (group, topic, partition) =>
      Effect.sync(() => {
        const row = rows.get(key(group, topic, partition))
        return row === undefined ? null : { ...row }
      })
  })
})

export const layer = Layer.effect(PartitionOwnership, make)
