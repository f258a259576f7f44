/** In-memory field definitions keyed by (tenant, agent, name); `version` moves only on a real change. */
import type { FieldDefinition } from "../../../schemas"
import { definitionContent, lastPerKey } from "../../domain/definitions"
import { definitionKey } from "../../domain/model"

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
