/**
 * Field definitions of the synthetic workload (every value type and scope, one PII field) and the
 * requirements of its one scenario, `onboarding`, whose steps are `step-<turn number>`.
 */
import type { FieldDefinitionEncoded, ScenarioFieldRequirement } from "../../schemas"

type Def = Omit<FieldDefinitionEncoded, "tenant_id" | "agent_id">

const catalogue: ReadonlyArray<Def> = [
  {
    name: "full_name",
    value_type: "string",
    scope: "IDENTITY",
    is_pii: true,
    validation: { min_length: 2, max_length: 80 }
  },
  { name: "email", value_type: "email", scope: "IDENTITY", is_pii: true },
  { name: "phone", value_type: "phone", scope: "IDENTITY", is_pii: true },
  { name: "birth_date", value_type: "date", scope: "IDENTITY", is_pii: true },
  {
    name: "plan",
    value_type: "enum",
    scope: "BUSINESS",
    validation: { allowed_values: ["basic", "plus", "pro"] }
  },
  { name: "seats", value_type: "integer", scope: "BUSINESS", validation: { min: 1, max: 500 } },
  { name: "monthly_budget", value_type: "number", scope: "BUSINESS", validation: { min: 0 } },
  { name: "newsletter", value_type: "boolean", scope: "BUSINESS" },
  {
    name: "website",
    value_type: "url",
    scope: "BUSINESS",
    extraction_hints: ["website is (https?://[^\\s,]+)"]
  },
  { name: "order_id", value_type: "string", scope: "CASE", validation: { regex: "ORD-[0-9]{6}" } },
  { name: "issue_opened_at", value_type: "datetime", scope: "CASE" },
  {
    name: "mood",
    value_type: "enum",
    scope: "SESSION",
    validation: { allowed_values: ["happy", "neutral", "upset"] }
  },
  { name: "last_topic", value_type: "string", scope: "BUSINESS", persist: false },
  { name: "preferences", value_type: "json", scope: "BUSINESS" }
]

export const syntheticDefinitions = (tenants: ReadonlyArray<string>, agents: ReadonlyArray<string>) =>
  tenants.flatMap((tenant_id) =>
    agents.flatMap((agent_id) =>
      catalogue.map((def): FieldDefinitionEncoded => ({ ...def, tenant_id, agent_id }))
    )
  )

type Requirement = Omit<ScenarioFieldRequirement, "tenant_id" | "agent_id" | "version">

const onboarding: ReadonlyArray<Requirement> = [
  { scenario_id: "onboarding", field_name: "full_name", required_level: "required", fallback_action: "ask" },
  { scenario_id: "onboarding", field_name: "email", required_level: "required", fallback_action: "ask" },
  { scenario_id: "onboarding", field_name: "phone", required_level: "optional", fallback_action: "skip" },
  {
    scenario_id: "onboarding",
    step_id: "step-2",
    field_name: "plan",
    required_level: "required",
    fallback_action: "ask"
  },
  {
    scenario_id: "onboarding",
    step_id: "step-3",
    field_name: "mood",
    required_level: "required",
    fallback_action: "skip"
  },
  {
    scenario_id: "onboarding",
    step_id: "step-4",
    field_name: "order_id",
    required_level: "required",
    fallback_action: "escalate"
  }
]

export const syntheticRequirements = (tenants: ReadonlyArray<string>, agents: ReadonlyArray<string>) =>
  tenants.flatMap((tenant_id) =>
    agents.flatMap((agent_id) => onboarding.map((r) => ({ ...r, tenant_id, agent_id, version: 1 })))
  )
