/** ProfileStore contract: field definitions upsert with a version that moves only on change. */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import type { FieldDefinition } from "../../schemas"
import { ProfileStore } from "../../src/ports/ProfileStore"
import type { StoreIt } from "./stores.contract"

const definition = (
  tenantId: string,
  name: string,
  extra: Partial<FieldDefinition> = {}
): FieldDefinition => ({
  tenant_id: tenantId,
  agent_id: "agent-1",
  name,
  value_type: "string",
  scope: "BUSINESS",
  persist: true,
  is_pii: false,
  version: 1,
  ...extra
})

export const definitionCases = (it: StoreIt, tenant: (label: string) => string) => {
  it.effect("definitions: upsert stores new ones, bumps version on change only", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("definitions")
      const email = definition(t, "email", {
        value_type: "email",
        scope: "IDENTITY",
        is_pii: true,
        validation: { max_length: 120, allowed_values: ["a", 1, null] },
        extraction_hints: ["mail"]
      })
      const plan = definition(t, "plan", { expires_after_seconds: 3600, description: "subscription" })
      expect(yield* store.upsertDefinitions([plan, email])).toBe(2)
      expect(yield* store.loadDefinitions(t, "agent-1")).toEqual([email, plan])

      expect(yield* store.upsertDefinitions([email, plan])).toBe(0)
      expect((yield* store.loadDefinitions(t, "agent-1")).map((def) => def.version)).toEqual([1, 1])

      const changed = { ...plan, description: "the customer's subscription" }
      expect(yield* store.upsertDefinitions([email, changed])).toBe(1)
      expect(yield* store.loadDefinitions(t, "agent-1")).toEqual([email, { ...changed, version: 2 }])
      expect(yield* store.loadDefinitions(t, "agent-2")).toEqual([])
    })
  )
}
