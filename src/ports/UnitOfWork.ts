/**
 * Port: groups the writes of a batch of turns. Where the stores share one database (PostgreSQL)
 * the unit is one transaction, so a crash never leaves half a turn durable (DESIGN 4); with
 * separate or in-memory stores it is a pass-through and each write is retried on its own.
 */
import { Context, Data, type Effect, Layer } from "effect"

export class UnitOfWorkError extends Data.TaggedError("UnitOfWorkError")<{
  readonly operation: "begin" | "commit" | "rollback"
  readonly cause: unknown
}> {}

export interface UnitOfWorkService {
  /** True when `run` is atomic: then a failed write fails the unit and the whole unit is retried. */
  readonly atomic: boolean
  readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | UnitOfWorkError, R>
}

export class UnitOfWork extends Context.Tag("turnvault/UnitOfWork")<UnitOfWork, UnitOfWorkService>() {
  /** Independent stores: no shared transaction. */
  static readonly passThrough = Layer.succeed(UnitOfWork, { atomic: false, run: (effect) => effect })
}
