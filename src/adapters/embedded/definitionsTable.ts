/** In-memory field definitions keyed by (tenant, agent, name); `version` moves only on a real change. */
import type { FieldDefinition } from "../../../schemas"
import { canonicalJson } from "../../domain/hash"
import { definitionKey } from "../../domain/model"

/** The content that decides "changed": everything but `version`. */
export const definitionContent = (def: FieldDefinition): string => {
  const { version: _version, ...content } = def
  return canonicalJson(content)
}

/** Within one call the last definition of a key wins (the PostgreSQL adapter upserts each key once). */
export const lastPerKey = (defs: ReadonlyArray<FieldDefinition>): ReadonlyArray<FieldDefinition> => {
  const byKey = new Map<string, FieldDefinition>()
  for (const def of defs) byKey.set(`${definitionKey(def.tenant_id, def.agent_id)}\u0000${def.name}`, def)
  return [...byKey.values()]
}

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
