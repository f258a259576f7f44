/**
 * `turnvault keys create|list|revoke`: tenants' API keys from the command line (issue 14). A key
 * belongs to one tenant; `create` prints it once (only an scrypt hash of its secret is stored),
 * `list` never prints secrets, and each create and revoke is logged in `admin_actions` with who
 * ran it (`--by`, else the operating-system user).
 */
import { Effect } from "effect"
import { userInfo } from "node:os"
import type { KeyScope } from "../../domain/apiKey"
import { ApiKeys } from "../../ports/ApiKeys"
import { CliInputError } from "./process"

/** Who runs the command, for the admin log. */
export const operator = (by: string | undefined) => by ?? `cli:${userInfo().username}`

export const createKey = (tenantId: string, scope: KeyScope, by: string) =>
  Effect.flatMap(ApiKeys, (keys) => keys.create(tenantId, scope, by, new Date()))

export const listKeys = (tenantId: string) => Effect.flatMap(ApiKeys, (keys) => keys.list(tenantId))

/** Revokes a live key of the tenant; an unknown or already revoked one is a CLI error. */
export const revokeKey = (tenantId: string, keyId: string, by: string) =>
  Effect.flatMap(ApiKeys, (keys) => keys.revoke(tenantId, keyId, by, new Date())).pipe(
    Effect.filterOrFail(
      (revoked) => revoked,
      () => new CliInputError({ message: `tenant ${tenantId} has no live key ${keyId}` })
    ),
    Effect.as({ tenant_id: tenantId, key_id: keyId, revoked: true })
  )
