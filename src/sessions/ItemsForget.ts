/**
 * Wires ItemChanges to the ActorRegistry: rows made inactive outside the stream (the orphan job,
 * `items delete`, on this instance or, through Redis, on another) leave the resident snapshots
 * while they are still their field's current value there.
 */
import { Effect, Layer } from "effect"
import { ItemChanges } from "../ports/ItemChanges"
import { ActorRegistry } from "./ActorRegistry"

export const ItemsForget: Layer.Layer<never, never, ActorRegistry | ItemChanges> = Layer.scopedDiscard(
  Effect.gen(function* () {
    const registry = yield* ActorRegistry
    const changes = yield* ItemChanges
    yield* changes.onChange((items) => Effect.asVoid(registry.forgetItems(items)))
  })
)
