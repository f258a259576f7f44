/**
 * UnitOfWork over one PostgreSQL transaction (DESIGN 4): every store write inside `run` joins the
 * transaction through PgClient's ambient connection, so a turn's session, profile and audit writes
 * commit together or not at all. Writes started concurrently inside `run` share the one connection;
 * PgClient's semaphore runs their statements one at a time, each whole, all in the same transaction.
 */
import { Effect, Layer } from "effect"
import { UnitOfWork, UnitOfWorkError } from "../../ports/UnitOfWork"
import { PgClient } from "./PgClient"

export const make = Effect.map(PgClient, (client) =>
  UnitOfWork.of({
    atomic: true,
    run: client.transactionAs(
      (error) => new UnitOfWorkError({ operation: error.operation, cause: error.cause })
    )
  })
)

export const layer: Layer.Layer<UnitOfWork, never, PgClient> = Layer.effect(UnitOfWork, make)
