/** ProfileStore contract: field definitions upsert with a version that moves only on change. */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import type { FieldDefinition, ScenarioFieldRequirement } from "../../schemas"
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

  it.effect("requirements: keyed by scenario, step and field; version moves on change only", () =>
    Effect.gen(function* () {
      const store = yield* ProfileStore
      const t = tenant("requirements")
      const requirement = (
        scenario_id: string,
        field_name: string,
        extra: Partial<ScenarioFieldRequirement> = {}
      ): ScenarioFieldRequirement => ({
        tenant_id: t,
        agent_id: "agent-1",
        scenario_id,
        field_name,
        required_level: "required",
        fallback_action: "ask",
        version: 1,
        ...extra
      })
      const everyStep = requirement("refund", "email", { description: "to find the order" })
      const oneStep = requirement("refund", "email", { step_id: "confirm", fallback_action: "block" })
      const optional = requirement("refund", "phone", { required_level: "optional", fallback_action: "skip" })
      const other = requirement("onboarding", "name")
      expect(yield* store.upsertRequirements([oneStep, everyStep, optional, other])).toBe(4)
      // by scenario, then step (every step first), then field; an absent step stays absent
      const loaded = yield* store.loadRequirements(t, "agent-1")
      expect(loaded).toEqual([other, everyStep, optional, oneStep])
      expect(Object.hasOwn(loaded[1]!, "step_id")).toBe(false)

      expect(yield* store.upsertRequirements([everyStep, oneStep])).toBe(0)
      const changed = { ...oneStep, fallback_action: "escalate" as const }
      // within one import the last requirement of a key wins
      expect(yield* store.upsertRequirements([oneStep, changed])).toBe(1)
      expect((yield* store.loadRequirements(t, "agent-1")).at(-1)).toEqual({ ...changed, version: 2 })
      expect(yield* store.loadRequirements(t, "agent-2")).toEqual([])
      expect(yield* store.loadRequirements(tenant("requirements-other"), "agent-1")).toEqual([])
    })
  )
}
