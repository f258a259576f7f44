/** Wires DefinitionsChanges to the ActorRegistry: a definitions change drops the cached definitions. */
import { Effect, Layer } from "effect"
import { ActorRegistry } from "./ActorRegistry"
import { DefinitionsChanges } from "../ports/DefinitionsChanges"

export const DefinitionsHotReload: Layer.Layer<never, never, ActorRegistry | DefinitionsChanges> =
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const registry = yield* ActorRegistry
      const changes = yield* DefinitionsChanges
      yield* changes.onChange(() => registry.invalidateDefinitions())
    })
  )
