/** PartitionOwnership contract: claims bump the generation; only the current claim advances. */
import { expect } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { PartitionOwnership } from "../../src/ports/PartitionOwnership"
import { UnitOfWork } from "../../src/ports/UnitOfWork"
import type { StoreIt } from "./stores.contract"

export const ownershipCases = (it: StoreIt, tenant: (label: string) => string) => {
  it.effect("ownership: a newer claim fences the older one, whose advance changes nothing", () =>
    Effect.gen(function* () {
      const ownership = yield* PartitionOwnership
      const group = tenant("group")
      expect(yield* ownership.load(group, "topic", 3)).toBeNull()
      const zombie = yield* ownership.claim(group, "topic", 3)
      expect(zombie.durableOffset).toBeNull()
      yield* ownership.advance(zombie, "10")
      expect(yield* ownership.load(group, "topic", 3)).toEqual({
        generation: zombie.generation,
        durableOffset: "10"
      })

      const owner = yield* ownership.claim(group, "topic", 3)
      expect(owner.generation).toBeGreaterThan(zombie.generation)
      // the new owner learns how far its predecessor got: what lies below is applied already
      expect(owner.durableOffset).toBe("10")
      const fenced = yield* Effect.exit(ownership.advance(zombie, "20"))
      expect(Exit.isFailure(fenced) && JSON.stringify(fenced.cause)).toContain("PartitionFenced")
      yield* ownership.advance(owner, "15")
      expect(yield* ownership.load(group, "topic", 3)).toEqual({
        generation: owner.generation,
        durableOffset: "15"
      })
      expect((yield* ownership.claim(group, "topic", 3)).durableOffset).toBe("15")
      // another partition, another group: claims are independent
      expect((yield* ownership.claim(group, "topic", 4)).generation).toBe(1)
      expect((yield* ownership.claim(tenant("other-group"), "topic", 3)).generation).toBe(1)
    })
  )

  it.effect(
    "ownership: an advance inside a unit of work that fails later is not durable when the unit is atomic",
    () =>
      Effect.gen(function* () {
        const ownership = yield* PartitionOwnership
        const uow = yield* UnitOfWork
        const group = tenant("unit")
        const claim = yield* ownership.claim(group, "topic", 0)
        yield* Effect.exit(
          uow.run(Effect.zipRight(ownership.advance(claim, "7"), Effect.fail("later write failed")))
        )
        const row = yield* ownership.load(group, "topic", 0)
        expect(row?.durableOffset).toBe(uow.atomic ? null : "7")
      })
  )
}
