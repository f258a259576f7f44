/**
 * Runs decoded events through the project's own SessionActor over in-memory snapshots (no stores,
 * no Effect): the pure per-turn work. Used to derive the exact rows a workload writes (component
 * ceilings, persistence composition) and to time the per-turn CPU cost.
 */
import { Either } from "effect"
import type { TurnEvent } from "../../schemas"
import { CustomerSnapshot, type EventEffects, SessionActor } from "../../src/sessions/SessionActor"
import type { Definitions } from "../../src/domain/model"
import { customerKey, definitionKey, sessionKey } from "../../src/domain/model"
import { decodeTurnEvent } from "../../streams/decode"
import type { TrafficLine } from "../../src/dev/SyntheticTraffic"
import { workloadDefinitions } from "./workload"

export const settings = {
  defaultMode: "strict",
  maxHistory: 10,
  persistProfile: true,
  sessionCleanupOnEnd: true,
  activateUnreviewed: false
} as const

export const decodeAll = (lines: ReadonlyArray<TrafficLine>): Array<TurnEvent> =>
  lines.map((line) => {
    const decoded = decodeTurnEvent(line.value)
    if (Either.isLeft(decoded)) throw new Error(`workload line does not decode: ${decoded.left.detail}`)
    return decoded.right
  })

/** Session actors over in-memory snapshots, shared customer snapshots, definitions by (tenant, agent). */
export const makeActors = () => {
  const definitions = new Map<string, Map<string, ReturnType<typeof workloadDefinitions>[number]>>()
  for (const def of workloadDefinitions()) {
    const key = definitionKey(def.tenant_id, def.agent_id)
    const map = definitions.get(key) ?? new Map()
    map.set(def.name, def)
    definitions.set(key, map)
  }
  const actors = new Map<string, SessionActor>()
  const customers = new Map<string, CustomerSnapshot>()
  const actorFor = (event: TurnEvent): SessionActor => {
    const key = sessionKey(event.tenant_id, event.session_id)
    let actor = actors.get(key)
    if (actor === undefined) {
      const cKey = customerKey(event.tenant_id, event.customer_id)
      let customer = customers.get(cKey)
      if (customer === undefined) {
        customer = new CustomerSnapshot()
        customers.set(cKey, customer)
      }
      customer.refs += 1
      const defs: Definitions = definitions.get(definitionKey(event.tenant_id, event.agent_id)) ?? new Map()
      actor = new SessionActor(event.tenant_id, event.session_id, null, customer, defs)
      actors.set(key, actor)
    }
    return actor
  }
  /** Applies one event; the effects, or null when nothing is applied. */
  const apply = (event: TurnEvent): EventEffects | null => {
    const actor = actorFor(event)
    switch (event.event_type) {
      case "turn.completed": {
        const d = actor.handleTurn(event, settings, false)
        return d.kind === "applied" ? d.effects : null
      }
      case "session.ended": {
        const d = actor.handleEnded(event, settings)
        return d.kind === "applied" ? d.effects : null
      }
      case "case.closed":
        return actor.handleCaseClosed(event)
      case "extraction.completed":
        return actor.handleExtraction(event, settings)
    }
  }
  return { apply, actorFor, actors, customers }
}

/** Every event's effects, in order. */
export const effectsOf = (events: ReadonlyArray<TurnEvent>) => {
  const { apply } = makeActors()
  return events.map(apply)
}
