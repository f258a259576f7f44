/** The embedded default: every store in memory, no shared transaction. */
import { Layer } from "effect"
import type { SecretKey } from "../../domain/envelope"
import { UnitOfWork } from "../../ports/UnitOfWork"
import * as MemoryApiKeys from "./MemoryApiKeys"
import * as MemoryAuditStore from "./MemoryAuditStore"
import * as MemoryCheckpointStore from "./MemoryCheckpointStore"
import * as MemoryCustomerKeys from "./MemoryCustomerKeys"
import * as MemoryIngestionStore from "./MemoryIngestionStore"
import * as MemoryJobLeases from "./MemoryJobLeases"
import * as MemoryPartitionOwnership from "./MemoryPartitionOwnership"
import * as MemoryProfileStore from "./MemoryProfileStore"
import * as MemoryQuarantineStore from "./MemoryQuarantineStore"
import * as MemorySessionStore from "./MemorySessionStore"

export {
  MemoryApiKeys,
  MemoryAuditStore,
  MemoryCheckpointStore,
  MemoryCustomerKeys,
  MemoryIngestionStore,
  MemoryJobLeases,
  MemoryPartitionOwnership,
  MemoryProfileStore,
  MemoryQuarantineStore,
  MemorySessionStore
}

const memoryStores = Layer.mergeAll(
  MemorySessionStore.layer,
  MemoryProfileStore.layer,
  MemoryAuditStore.layer,
  MemoryCheckpointStore.layer,
  MemoryPartitionOwnership.layer,
  MemoryQuarantineStore.layer,
  MemoryJobLeases.layer,
  MemoryApiKeys.layer,
  MemoryIngestionStore.layer,
  UnitOfWork.passThrough
)

/** Every store in memory; CustomerKeys seals data keys under `kek` (none: nothing is sealed). */
export const memoryStoresWith = (kek: SecretKey | null) =>
  Layer.merge(memoryStores, MemoryCustomerKeys.layer(kek))

export const MemoryStoresLive = memoryStoresWith(null)
