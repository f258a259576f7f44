/**
 * In-memory field definitions keyed by (tenant, agent, name), and scenario requirements keyed by
 * (tenant, agent, scenario, step, field); `version` moves only on a real change.
 */
import type { FieldDefinition, ScenarioFieldRequirement } from "../../../schemas"
import { definitionContent, lastPerKey } from "../../domain/definitions"
import { definitionKey } from "../../domain/model"
import { lastRequirementPerKey, requirementContent, requirementKey } from "../../domain/requirements"

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

export const makeDefinitionsTable = () => {
  const byAgent = new Map<string, Map<string, FieldDefinition>>()

  const upsert = (defs: ReadonlyArray<FieldDefinition>): number => {
    let changed = 0
    for (const def of lastPerKey(defs)) {
      const key = definitionKey(def.tenant_id, def.agent_id)
      const agentDefs = byAgent.get(key) ?? new Map<string, FieldDefinition>()
      byAgent.set(key, agentDefs)
      const stored = agentDefs.get(def.name)
      if (stored === undefined) {
        agentDefs.set(def.name, def)
        changed++
      } else if (definitionContent(stored) !== definitionContent(def)) {
        agentDefs.set(def.name, { ...def, version: stored.version + 1 })
        changed++
      }
    }
    return changed
  }

  const load = (tenantId: string, agentId: string): ReadonlyArray<FieldDefinition> =>
    [...(byAgent.get(definitionKey(tenantId, agentId))?.values() ?? [])].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0
    )

  return { upsert, load }
}

export const makeRequirementsTable = () => {
  const byAgent = new Map<string, Map<string, ScenarioFieldRequirement>>()

  const upsert = (requirements: ReadonlyArray<ScenarioFieldRequirement>): number => {
    let changed = 0
    for (const requirement of lastRequirementPerKey(requirements)) {
      const agentKey = definitionKey(requirement.tenant_id, requirement.agent_id)
      const agent = byAgent.get(agentKey) ?? new Map<string, ScenarioFieldRequirement>()
      byAgent.set(agentKey, agent)
      const key = requirementKey(requirement)
      const stored = agent.get(key)
      if (stored === undefined) {
        agent.set(key, requirement)
        changed++
      } else if (requirementContent(stored) !== requirementContent(requirement)) {
        agent.set(key, { ...requirement, version: stored.version + 1 })
        changed++
      }
    }
    return changed
  }

  const load = (tenantId: string, agentId: string): ReadonlyArray<ScenarioFieldRequirement> =>
    [...(byAgent.get(definitionKey(tenantId, agentId))?.values() ?? [])].sort(
      (a, b) =>
        compareText(a.scenario_id, b.scenario_id) ||
        compareText(a.step_id ?? "", b.step_id ?? "") ||
        compareText(a.field_name, b.field_name)
    )

  return { upsert, load }
}
