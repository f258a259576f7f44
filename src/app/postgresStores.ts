/** PostgreSQL-backed stores, with migrations applied first when configured. */
import { Effect, Layer, Redacted } from "effect"
import type { AppConfig } from "../config/AppConfig"
import { PgStoresLive, runMigrations } from "../adapters/postgres"

export const postgresStores = (url: Redacted.Redacted<string>, config: AppConfig) => {
  const connectionString = Redacted.value(url)
  const migrate = config.migrateOnStart
    ? Layer.effectDiscard(
        runMigrations(connectionString, "up").pipe(
          Effect.tap((ran) => (ran.length > 0 ? Effect.logInfo("migrations applied", { ran }) : Effect.void)),
          Effect.orDie
        )
      )
    : Layer.empty
  return PgStoresLive({
    connectionString,
    max: config.pgPoolSize,
    idleInTransactionMs: config.pgIdleInTransactionMs
  }).pipe(Layer.provide(migrate))
}
