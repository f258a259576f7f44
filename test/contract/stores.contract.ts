/**
 * The store contract: one suite that every adapter of SessionStore, ProfileStore, AuditStore,
 * UnitOfWork, PartitionOwnership, QuarantineStore, JobLeases, ApiKeys, IngestionStore, CheckpointStore and CustomerKeys must pass unchanged. The layer is built once
 * per suite; each case writes under its own tenant ids so cases never see each other's rows.
 */
import { layer, type Vitest } from "@effect/vitest"
import type { Layer } from "effect"
import type { ApiKeys } from "../../src/ports/ApiKeys"
import type { AuditStore } from "../../src/ports/AuditStore"
import { secretKey } from "../../src/domain/envelope"
import type { CheckpointStore } from "../../src/ports/CheckpointStore"
import type { CustomerKeys } from "../../src/ports/CustomerKeys"
import type { IngestionStore } from "../../src/ports/IngestionStore"
import type { JobLeases } from "../../src/ports/JobLeases"
import type { PartitionOwnership } from "../../src/ports/PartitionOwnership"
import type { ProfileStore } from "../../src/ports/ProfileStore"
import type { QuarantineStore } from "../../src/ports/QuarantineStore"
import type { SessionStore } from "../../src/ports/SessionStore"
import type { UnitOfWork } from "../../src/ports/UnitOfWork"
import { apiKeyCases } from "./apiKeys.cases"
import { auditCases } from "./audit.cases"
import { checkpointCases } from "./checkpoint.cases"
import { customerKeyCases } from "./customerKeys.cases"
import { definitionCases } from "./definitions.cases"
import { ingestionCases } from "./ingestion.cases"
import { jobLeaseCases } from "./jobLeases.cases"
import { lineageCases } from "./lineage.cases"
import { ownershipCases } from "./ownership.cases"
import { profileCases } from "./profile.cases"
import { quarantineCases } from "./quarantine.cases"
import { sessionCases } from "./session.cases"
import { tenancyCases } from "./tenancy.cases"

export type Stores =
  | SessionStore
  | ProfileStore
  | AuditStore
  | UnitOfWork
  | PartitionOwnership
  | QuarantineStore
  | JobLeases
  | ApiKeys
  | IngestionStore
  | CheckpointStore
  | CustomerKeys
export type StoreIt = Vitest.MethodsNonLive<Stores>

/** The key-encryption key the suites seal data keys under. */
export const TEST_KEK = secretKey(Buffer.alloc(32, 7))

/** Tenant ids unique to one suite run, so a shared database never mixes runs. */
export const tenantFactory = () => {
  const run = Math.random().toString(36).slice(2, 8)
  let next = 0
  return (label: string) => `t-${run}-${label}-${next++}`
}

export const storeContract = (name: string, makeLayer: () => Layer.Layer<Stores, unknown>) => {
  layer(makeLayer(), { timeout: "60 seconds" })(`store contract: ${name}`, (it) => {
    const tenant = tenantFactory()
    sessionCases(it, tenant)
    profileCases(it, tenant)
    lineageCases(it, tenant)
    definitionCases(it, tenant)
    auditCases(it, tenant)
    tenancyCases(it, tenant)
    ownershipCases(it, tenant)
    quarantineCases(it, tenant)
    jobLeaseCases(it, tenant)
    apiKeyCases(it, tenant)
    ingestionCases(it, tenant)
    checkpointCases(it, tenant)
    customerKeyCases(it, tenant)
  })
}
