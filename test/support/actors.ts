/** Fixtures of the session actor's tests: default settings and a field definition builder. */
import type { FieldDefinition } from "../../schemas"
import type { ActorSettings } from "../../src/sessions/SessionActor"

export const SETTINGS: ActorSettings = {
  defaultMode: "strict",
  maxHistory: 10,
  persistProfile: true,
  sessionCleanupOnEnd: true,
  activateUnreviewed: false
}

/** A BUSINESS string field of tenant t1, agent a1, persisted, version 1, with `overrides`. */
export const fieldDef = (name: string, overrides: Partial<FieldDefinition> = {}): FieldDefinition => ({
  tenant_id: "t1",
  agent_id: "a1",
  name,
  value_type: "string",
  scope: "BUSINESS",
  persist: true,
  is_pii: false,
  version: 1,
  ...overrides
})
