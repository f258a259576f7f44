/**
 * ItemChanges across instances: rows the orphan job or `items delete` made inactive are published
 * on the Redis channel `turnvault:items` (in chunks), and every instance's handlers drop them from
 * its resident snapshots. Handlers also run locally on publish. A message missed while the
 * subscriber reconnected cannot be recovered: that is logged, and the value stays in the resident
 * snapshot until its customer's actors passivate (DESIGN 10).
 */
import { Effect, Layer } from "effect"
import { makeHandlers } from "../../ports/DefinitionsChanges"
import { ItemChanges } from "../../ports/ItemChanges"
import type { ChangedItem } from "../../ports/ProfileStore"
import { makeChannel } from "./internal/channel"
import { ITEMS_CHANNEL } from "./internal/keys"
import type { RedisConnection } from "./RedisConnection"

/** Rows per message: a bulk orphan run may change many. */
const CHUNK = 500

const isItem = (u: unknown): u is ChangedItem => {
  const item = u as Record<string, unknown> | null
  return (
    typeof item === "object" &&
    item !== null &&
    ["tenant_id", "customer_id", "id", "name", "source_item_id"].every((key) => typeof item[key] === "string")
  )
}

export const make = Effect.gen(function* () {
  const handlers = makeHandlers<ReadonlyArray<ChangedItem>>()
  const channel = yield* makeChannel({
    name: ITEMS_CHANNEL,
    decode: (payload) => (Array.isArray(payload) && payload.every(isItem) ? payload : undefined),
    deliver: handlers.run,
    onResubscribed: Effect.logWarning(
      "redis: item changes may have been missed while resubscribing; resident values stay until their actors passivate"
    )
  })

  const publish = (items: ReadonlyArray<ChangedItem>) =>
    items.length === 0
      ? Effect.void
      : handlers.run(items).pipe(
          Effect.zipRight(
            Effect.forEach(
              Array.from({ length: Math.ceil(items.length / CHUNK) }, (_, i) =>
                items.slice(i * CHUNK, (i + 1) * CHUNK)
              ),
              channel.publish,
              { discard: true }
            )
          ),
          Effect.catchAll(() =>
            Effect.logWarning(
              "redis: item changes not announced; other instances keep them until passivation"
            )
          )
        )

  return ItemChanges.of({ publish, subscribed: channel.subscribed, onChange: handlers.register })
})

export const layer: Layer.Layer<ItemChanges, never, RedisConnection> = Layer.scoped(ItemChanges, make)
