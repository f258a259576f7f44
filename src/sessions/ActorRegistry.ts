/**
 * The session actors of this instance: activation (load the snapshot once: session state, the
 * customer's profile, the agent's definitions), lookup, and passivation (idle timeout, capacity
 * bound, session end, fencing, partition revocation). Customer snapshots are shared by the
 * customer's active sessions and dropped with the last of them.
 */
import { Context, Effect, Layer } from "effect"
import type { FieldDefinition } from "../../schemas"
import type { DataEntry, ProfileField, SessionRecord, ValueVersion } from "../domain/model"
import { customerKey, definitionKey, sessionKey } from "../domain/model"
import { byScenario, type Requirements } from "../domain/requirements"
import {
  type ChangedItem,
  type CustomerId,
  type CustomerProfile,
  ProfileStore,
  type ProfileStoreError
} from "../ports/ProfileStore"
import { SessionStore, type SessionStoreError } from "../ports/SessionStore"
import { CustomerSnapshot, SessionActor } from "./SessionActor"

type LoadError = SessionStoreError | ProfileStoreError

export interface ActorRegistryConfig {
  /** Passivate an actor after this long without events. */
  readonly idleTimeoutMs: number
  /** Upper bound on resident actors; the least recently used are passivated beyond it. */
  readonly maxActors: number
  /** Field definitions are re-read from the store after this long (a running service sees changes). */
  readonly definitionsTtlMs: number
  readonly maxHistory: number
}

export interface SessionRef {
  readonly tenant_id: string
  readonly session_id: string
  readonly customer_id: string
  readonly agent_id: string
}

/** An agent's field definitions and scenario requirements, loaded and refreshed together. */
interface CachedDefinitions {
  readonly defs: Map<string, FieldDefinition>
  readonly requirements: Requirements
  readonly loadedAt: number
}

const toVersion = (row: ProfileField): ValueVersion => ({
  value: row.value,
  source: row.source,
  confidence: row.confidence,
  updated_at: row.updated_at,
  source_item_id: row.source_item_id
})

const toEntry = (row: ProfileField, history: ReadonlyArray<ValueVersion>): DataEntry => ({
  ...toVersion(row),
  scope: row.scope,
  history,
  ...(row.validation_error === null ? {} : { validation_error: row.validation_error }),
  ...(row.case_id === null ? {} : { case_id: row.case_id }),
  ...(row.confirmed_at === null || row.confirmed_by === null
    ? {}
    : { confirmed_at: row.confirmed_at, confirmed_by: row.confirmed_by })
})

export const makeActorRegistry = (config: ActorRegistryConfig) =>
  Effect.gen(function* () {
    const sessions = yield* SessionStore
    const profiles = yield* ProfileStore
    // Map iteration order is insertion order: touching an actor re-inserts it, so the first
    // entries are the least recently used.
    const actors = new Map<string, SessionActor>()
    const customers = new Map<string, CustomerSnapshot>()
    const definitions = new Map<string, CachedDefinitions>()
    /**
     * When the expiry job last swept the resident snapshots (epoch ms), or null (jobs off, or
     * `process`: nothing is expired by the wall clock then). A snapshot installed later is swept
     * to it too: its load may have read a row before the store expired it.
     */
    let sweptAt: number | null = null

    const snapshotOf = (profile: CustomerProfile) => {
      const snapshot = new CustomerSnapshot()
      const history = new Map<string, Array<ValueVersion>>()
      for (const row of profile.history) {
        const list = history.get(row.name) ?? []
        list.push(toVersion(row))
        history.set(row.name, list)
      }
      for (const row of profile.active)
        snapshot.setCurrent(
          row.name,
          toEntry(row, history.get(row.name) ?? []),
          row.expires_at === null ? null : Date.parse(row.expires_at)
        )
      for (const row of profile.expired) snapshot.expired.set(row.name, toEntry(row, []))
      return snapshot
    }

    const release = (key: string) => {
      const actor = actors.get(key)
      if (actor === undefined) return
      actors.delete(key)
      actor.customer.refs -= 1
      if (actor.customer.refs <= 0) {
        const state = actor.record?.state
        if (state !== undefined) customers.delete(customerKey(state.tenant_id, state.customer_id))
        else for (const [k, c] of customers) if (c === actor.customer) customers.delete(k)
      }
    }

    /** Makes sure the (tenant, agent) definitions and requirements are loaded and fresh; returns them. */
    const definitionsFor = (tenantId: string, agentId: string, now: number) => {
      const key = definitionKey(tenantId, agentId)
      const cached = definitions.get(key)
      if (cached !== undefined && now - cached.loadedAt < config.definitionsTtlMs)
        return Effect.succeed(cached)
      return Effect.map(
        Effect.all(
          [profiles.loadDefinitions(tenantId, agentId), profiles.loadRequirements(tenantId, agentId)],
          {
            concurrency: 2
          }
        ),
        ([list, requirements]) => {
          const loaded: CachedDefinitions = {
            defs: new Map(list.map((def) => [def.name, def])),
            requirements: byScenario(requirements),
            loadedAt: now
          }
          definitions.set(key, loaded)
          return loaded
        }
      )
    }

    /**
     * Makes the actor of `ref` resident over its loaded record and its customer's snapshot: the
     * resident one, else `fresh` (loaded by this activation). False when neither is there (the
     * resident snapshot was dropped while this activation loaded): the caller loads it again.
     */
    const install = (
      ref: SessionRef,
      record: SessionRecord | null,
      fresh: ReadonlyMap<string, CustomerSnapshot>,
      now: number
    ) =>
      Effect.map(definitionsFor(ref.tenant_id, ref.agent_id, now), (agent) => {
        const key = sessionKey(ref.tenant_id, ref.session_id)
        if (actors.has(key)) return true
        const cKey = customerKey(ref.tenant_id, record?.state.customer_id ?? ref.customer_id)
        const customer = customers.get(cKey) ?? fresh.get(cKey)
        if (customer === undefined) return false
        if (sweptAt !== null) customer.expireBefore(sweptAt)
        customers.set(cKey, customer)
        customer.refs += 1
        const actor = new SessionActor(ref.tenant_id, ref.session_id, record, customer, agent.defs)
        actor.requirements = agent.requirements
        actor.lastUsed = now
        actors.set(key, actor)
        return true
      })

    /**
     * Activates every referenced session that is not resident: one load of their records, one of
     * the customers none of the resident actors holds, then the definitions not cached yet.
     */
    const activate = (refs: ReadonlyArray<SessionRef>, now: number): Effect.Effect<void, LoadError> =>
      Effect.suspend(() => {
        const missing = new Map<string, SessionRef>()
        for (const ref of refs) {
          const key = sessionKey(ref.tenant_id, ref.session_id)
          if (!actors.has(key) && !missing.has(key)) missing.set(key, ref)
        }
        if (missing.size === 0) return Effect.void
        const pending = [...missing.values()]
        return Effect.gen(function* () {
          const records = yield* sessions.loadMany(pending)
          // A session belongs to the customer it is stored under (a mismatching event is refused later).
          const wanted = new Map<string, CustomerId>()
          for (const [i, ref] of pending.entries()) {
            const customerId = records[i]?.state.customer_id ?? ref.customer_id
            const key = customerKey(ref.tenant_id, customerId)
            if (!customers.has(key)) wanted.set(key, { tenant_id: ref.tenant_id, customer_id: customerId })
          }
          // Kept here, not only in `customers`: the reaper or a revocation may release a customer's
          // last actor while this activation waits on a load.
          const fresh = new Map<string, CustomerSnapshot>()
          if (wanted.size > 0) {
            const loaded = yield* profiles.loadCustomers([...wanted.values()], config.maxHistory)
            let i = 0
            for (const key of wanted.keys()) fresh.set(key, snapshotOf(loaded[i++]!))
          }
          const again: Array<SessionRef> = []
          for (const [i, ref] of pending.entries())
            if (!(yield* install(ref, records[i] ?? null, fresh, now))) again.push(ref)
          if (again.length > 0) yield* activate(again, now)
        })
      })

    const activateOne = (ref: SessionRef, now: number) => activate([ref], now)

    /** The resident actor, touched as most recently used, with current definitions. */
    const get = (ref: SessionRef, now: number) =>
      Effect.gen(function* () {
        const key = sessionKey(ref.tenant_id, ref.session_id)
        let actor = actors.get(key)
        if (actor === undefined) {
          yield* activateOne(ref, now)
          actor = actors.get(key)!
        }
        const agent = yield* definitionsFor(ref.tenant_id, ref.agent_id, now)
        actor.definitions = agent.defs
        actor.requirements = agent.requirements
        actor.lastUsed = now
        actors.delete(key)
        actors.set(key, actor)
        return actor
      })

    /**
     * The hot path of `get`, without an effect: the resident actor when it and its definitions are
     * current, else undefined (then `get` activates or refreshes).
     */
    const resident = (ref: SessionRef, now: number): SessionActor | undefined => {
      const key = sessionKey(ref.tenant_id, ref.session_id)
      const actor = actors.get(key)
      const defs = definitions.get(definitionKey(ref.tenant_id, ref.agent_id))
      if (actor === undefined || defs === undefined || now - defs.loadedAt >= config.definitionsTtlMs)
        return undefined
      actor.definitions = defs.defs
      actor.requirements = defs.requirements
      actor.lastUsed = now
      actors.delete(key)
      actors.set(key, actor)
      return actor
    }

    /** Passivates idle actors and trims to capacity. Returns how many were passivated. */
    const reap = (now: number) =>
      Effect.sync(() => {
        let passivated = 0
        for (const [key, actor] of actors) {
          const overCapacity = actors.size > config.maxActors
          if (!overCapacity && now - actor.lastUsed < config.idleTimeoutMs) break
          release(key)
          passivated += 1
        }
        return passivated
      })

    return {
      activate,
      get,
      resident,
      reap,
      passivate: (tenantId: string, sessionId: string) =>
        Effect.sync(() => release(sessionKey(tenantId, sessionId))),
      /** Drops every actor for which `predicate` holds (partition revoked, fenced). */
      dropWhere: (predicate: (actor: SessionActor) => boolean) =>
        Effect.sync(() => {
          for (const [key, actor] of actors) if (predicate(actor)) release(key)
        }),
      /**
       * Forgets every actor for which `predicate` holds *and* the customer snapshots they hold,
       * with every other actor sharing those snapshots: after a batch failed, its in-memory
       * profile changes (never made durable) must not survive in a snapshot another session keeps.
       */
      dropWithCustomers: (predicate: (actor: SessionActor) => boolean) =>
        Effect.sync(() => {
          const tainted = new Set<CustomerSnapshot>()
          for (const actor of actors.values()) if (predicate(actor)) tainted.add(actor.customer)
          for (const [key, actor] of actors) if (tainted.has(actor.customer)) release(key)
          for (const [key, snapshot] of customers) if (tainted.has(snapshot)) customers.delete(key)
        }),
      /**
       * The expiry job's tick, on every instance (whichever ran the store's expiry): the resident
       * snapshots drop their values whose `expires_at` is before `now`. Synchronous, so a batch in
       * flight sees each value either before or after, never half; a newer value it wrote has a
       * later `expires_at` and stays. Returns how many values left.
       */
      expireResident: (now: number) =>
        Effect.sync(() => {
          sweptAt = Math.max(sweptAt ?? now, now)
          let dropped = 0
          for (const snapshot of customers.values()) dropped += snapshot.expireBefore(now)
          return dropped
        }),
      /**
       * The orphan job's rows (on the instance that ran it): each leaves the resident snapshot of
       * its customer if it is still the field's current value there. Returns how many left.
       */
      forgetItems: (items: ReadonlyArray<ChangedItem>) =>
        Effect.sync(() => {
          let dropped = 0
          for (const item of items) {
            const snapshot = customers.get(customerKey(item.tenant_id, item.customer_id))
            if (snapshot?.forget(item.name, item.source_item_id)) dropped += 1
          }
          return dropped
        }),
      /** Forgets cached definitions so the next event reads them from the store. */
      invalidateDefinitions: () => Effect.sync(() => definitions.clear()),
      size: () => actors.size,
      customerCount: () => customers.size
    }
  })

export class ActorRegistry extends Context.Tag("turnvault/ActorRegistry")<
  ActorRegistry,
  Effect.Effect.Success<ReturnType<typeof makeActorRegistry>>
>() {
  static readonly layer = (config: ActorRegistryConfig) =>
    Layer.effect(ActorRegistry, makeActorRegistry(config))
}
