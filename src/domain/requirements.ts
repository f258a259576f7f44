/**
 * Scenario field requirements (DESIGN 3.1): the rules every store applies to an import, and the
 * missing fields of a turn. Pure.
 */
import type { MissingField, ScenarioFieldRequirement } from "../../schemas"
import { canonicalJson } from "./hash"

/** A requirement's identity: (tenant, agent, scenario, step or every step, field). */
export const requirementKey = (r: ScenarioFieldRequirement): string =>
  JSON.stringify([r.tenant_id, r.agent_id, r.scenario_id, r.step_id ?? "", r.field_name])

/** The content that decides "changed": everything but `version`. */
export const requirementContent = (r: ScenarioFieldRequirement): string => {
  const { version: _version, ...content } = r
  return canonicalJson(content)
}

/** Within one import the last requirement of a key wins. */
export const lastRequirementPerKey = (
  requirements: ReadonlyArray<ScenarioFieldRequirement>
): ReadonlyArray<ScenarioFieldRequirement> => [
  ...new Map(requirements.map((r) => [requirementKey(r), r])).values()
]

/** An agent's requirements by scenario id, as a session actor holds them. */
export type Requirements = ReadonlyMap<string, ReadonlyArray<ScenarioFieldRequirement>>

export const noRequirements: Requirements = new Map()

export const byScenario = (requirements: ReadonlyArray<ScenarioFieldRequirement>): Requirements => {
  const map = new Map<string, Array<ScenarioFieldRequirement>>()
  for (const r of requirements) {
    const list = map.get(r.scenario_id)
    if (list === undefined) map.set(r.scenario_id, [r])
    else list.push(r)
  }
  return map
}

/**
 * The required fields of the scenario step that `has` does not know (an active profile field or a
 * session variable after the turn), by field name. A requirement without a step applies to every
 * step; when a field is required both ways, the step's own fallback action wins.
 */
export const missingFields = (
  requirements: Requirements,
  scenarioId: string | null | undefined,
  stepId: string | null | undefined,
  has: (fieldName: string) => boolean
): Array<MissingField> => {
  if (scenarioId == null) return []
  const missing = new Map<string, MissingField>()
  for (const r of requirements.get(scenarioId) ?? []) {
    if (r.required_level !== "required") continue
    if (r.step_id !== undefined && r.step_id !== stepId) continue
    if (has(r.field_name)) continue
    if (missing.has(r.field_name) && r.step_id === undefined) continue
    missing.set(r.field_name, { field_name: r.field_name, fallback_action: r.fallback_action })
  }
  return [...missing.values()].sort((a, b) =>
    a.field_name < b.field_name ? -1 : a.field_name > b.field_name ? 1 : 0
  )
}
