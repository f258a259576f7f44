/** PostgreSQL-backed stores, with migrations applied first when configured. */
import { Effect, Layer, Option, Redacted } from "effect"
import { parseKek, type SecretKey } from "../domain/envelope"
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
  return PgStoresLive(
    {
      connectionString,
      max: config.pgPoolSize,
      idleInTransactionMs: config.pgIdleInTransactionMs
    },
    configuredKek(config)
  ).pipe(Layer.provide(migrate))
}

/** TURNVAULT_KEK's bytes (validated by AppConfig), or null when it is unset. */
export const configuredKek = (config: AppConfig): SecretKey | null =>
  Option.getOrNull(Option.map(config.kek, (key) => parseKek(Redacted.value(key))))
