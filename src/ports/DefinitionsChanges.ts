/**
 * Port: field definitions changed (DESIGN 3.6 hot reload). Whoever commits a definitions change
 * publishes it; every registered handler (the ActorRegistry's `invalidateDefinitions`) runs on this
 * instance at once and, where the adapter reaches other instances, there too.
 * Adapters: `DefinitionsChanges.local` (this instance only), redis/RedisDefinitionsChanges.
 */
import { Context, Effect, Layer, type Scope } from "effect"

export interface DefinitionsKey {
  readonly tenant_id: string
  readonly agent_id: string
}

/** `all`: anything may have changed (messages may have been lost). */
export type DefinitionsChange =
  | { readonly all: false; readonly keys: ReadonlyArray<DefinitionsKey> }
  | { readonly all: true }

export type DefinitionsHandler = (change: DefinitionsChange) => Effect.Effect<void>

export interface DefinitionsChangesService {
  /** Runs the handlers here and announces the change to the other instances (best effort). */
  readonly publish: (keys: ReadonlyArray<DefinitionsKey>) => Effect.Effect<void>
  /** Completes once this instance listens to other instances' changes (at once without Redis). */
  readonly subscribed: Effect.Effect<void>
  /** Registers a handler for the lifetime of the scope. */
  readonly onChange: (handler: DefinitionsHandler) => Effect.Effect<void, never, Scope.Scope>
}

export class DefinitionsChanges extends Context.Tag("turnvault/DefinitionsChanges")<
  DefinitionsChanges,
  DefinitionsChangesService
>() {
  /** Without Redis: handlers still run for changes made by this instance. */
  static readonly local: Layer.Layer<DefinitionsChanges> = Layer.sync(DefinitionsChanges, () => {
    const handlers = makeHandlers()
    return {
      publish: (keys) => handlers.run({ all: false, keys }),
      subscribed: Effect.void,
      onChange: handlers.register
    }
  })
}

/**
 * The handlers of one instance for changes of type C (definitions here, items in ItemChanges): a
 * failing handler is logged and does not stop the others.
 */
export const makeHandlers = <C = DefinitionsChange>() => {
  const handlers = new Set<(change: C) => Effect.Effect<void>>()
  return {
    run: (change: C): Effect.Effect<void> =>
      Effect.forEach([...handlers], (handler) => Effect.catchAllCause(handler(change), Effect.logWarning), {
        discard: true
      }),
    register: (handler: (change: C) => Effect.Effect<void>): Effect.Effect<void, never, Scope.Scope> =>
      Effect.acquireRelease(
        Effect.sync(() => handlers.add(handler)),
        () => Effect.sync(() => handlers.delete(handler))
      ).pipe(Effect.asVoid)
  }
}
