/** The PostgreSQL stores: one pool, the three stores, and a UnitOfWork that is one transaction. */
import { Layer } from "effect"
import type { SecretKey } from "../../domain/envelope"
import * as PgApiKeys from "./PgApiKeys"
import * as PgAuditStore from "./PgAuditStore"
import * as PgCheckpointStore from "./PgCheckpointStore"
import * as PgClient from "./PgClient"
import * as PgCustomerKeys from "./PgCustomerKeys"
import * as PgIngestionStore from "./PgIngestionStore"
import * as PgJobLeases from "./PgJobLeases"
import * as PgPartitionOwnership from "./PgPartitionOwnership"
import * as PgProfileStore from "./PgProfileStore"
import * as PgQuarantineStore from "./PgQuarantineStore"
import * as PgSessionStore from "./PgSessionStore"
import * as PgUnitOfWork from "./PgUnitOfWork"
import * as TenantReader from "./TenantReader"

export { MigrationError, migrationStatus, runMigrations } from "./migrate"
export { postgresHealthCheck } from "./PgHealthCheck"
export {
  PgApiKeys,
  PgAuditStore,
  PgCheckpointStore,
  PgClient,
  PgCustomerKeys,
  PgIngestionStore,
  PgJobLeases,
  PgPartitionOwnership,
  PgProfileStore,
  PgQuarantineStore,
  PgSessionStore,
  PgUnitOfWork,
  TenantReader
}

const stores = Layer.mergeAll(
  PgSessionStore.layer,
  PgProfileStore.layer,
  PgAuditStore.layer,
  PgCheckpointStore.layer,
  PgUnitOfWork.layer,
  PgPartitionOwnership.layer,
  PgQuarantineStore.layer,
  PgJobLeases.layer,
  PgApiKeys.layer,
  PgIngestionStore.layer
)

/** SessionStore, ProfileStore, AuditStore, CheckpointStore, CustomerKeys (sealing with `kek`, when given), UnitOfWork, PartitionOwnership, QuarantineStore, JobLeases, ApiKeys and IngestionStore over one pool (released when the layer is). */
export const PgStoresLive = (config: PgClient.PgClientConfig, kek: SecretKey | null = null) =>
  Layer.merge(stores, PgCustomerKeys.layer(kek)).pipe(Layer.provide(PgClient.layer(config)))

/**
 * PgStoresLive plus the PgClient and the tenant-scoped reader (its own pool, logged in as the
 * authenticator: `reader.connectionString`, by default the store's URL with the authenticator as
 * user), for the admin API and tests.
 */
export const PgStoresWithReaderLive = (
  config: PgClient.PgClientConfig,
  reader: Partial<TenantReader.TenantReaderConfig> = {}
) =>
  Layer.mergeAll(
    stores,
    PgCustomerKeys.layer(null),
    TenantReader.layer({
      ...reader,
      connectionString: reader.connectionString ?? TenantReader.authenticatorUrl(config.connectionString)
    })
  ).pipe(Layer.provideMerge(PgClient.layer(config)))
