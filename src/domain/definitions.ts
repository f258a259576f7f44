/** Rules about a batch of field definitions that every ProfileStore applies the same way. */
import type { FieldDefinition } from "../../schemas"
import { canonicalJson } from "./hash"
import { definitionKey } from "./model"

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
