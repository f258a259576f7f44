/**
 * Port: profile rows stopped being active outside the stream (the orphan job, `turnvault items
 * delete`). Whoever commits such a change publishes the rows; every registered handler (the
 * ActorRegistry's `forgetItems`, wired by ItemsForget) runs on this instance at once and, where
 * the adapter reaches other instances, there too, so no resident snapshot keeps a deleted or
 * orphaned value as its customer's current one (DESIGN 3.6).
 * Adapters: `ItemChanges.local` (this instance only), redis/RedisItemChanges.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import { makeHandlers } from "./DefinitionsChanges"
import type { ChangedItem } from "./ProfileStore"

export type ItemsHandler = (items: ReadonlyArray<ChangedItem>) => Effect.Effect<void>

export interface ItemChangesService {
  /** Runs the handlers here and announces the rows to the other instances (best effort). */
  readonly publish: (items: ReadonlyArray<ChangedItem>) => Effect.Effect<void>
  /** Completes once this instance listens to other instances' changes (at once without Redis). */
  readonly subscribed: Effect.Effect<void>
  /** Registers a handler for the lifetime of the scope. */
  readonly onChange: (handler: ItemsHandler) => Effect.Effect<void, never, Scope.Scope>
}

export class ItemChanges extends Context.Tag("turnvault/ItemChanges")<ItemChanges, ItemChangesService>() {
  /** Without Redis: handlers still run for changes made by this instance. */
  static readonly local: Layer.Layer<ItemChanges> = Layer.sync(ItemChanges, () => {
    const handlers = makeHandlers<ReadonlyArray<ChangedItem>>()
    return { publish: handlers.run, subscribed: Effect.void, onChange: handlers.register }
  })
}
