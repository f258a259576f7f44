/**
 * Key names. Ids are URI-encoded so that a `:` inside a tenant or customer id can never make two
 * different (tenant, id) pairs share a key.
 */
export type CacheName = "profile" | "session" | "definitions"

const namespaceOf: Record<CacheName, string> = {
  profile: "profile",
  session: "session",
  definitions: "field_defs"
}

export const CACHE_NAMES: ReadonlyArray<CacheName> = ["profile", "session", "definitions"]

/** The keys guarding one cache entry. */
export interface EntryKeys {
  readonly cache: CacheName
  readonly entry: string
  readonly ver: string
  readonly pend: string
  /** Expire `ver` after this long ('0': never). Only the namespace epoch never expires. */
  readonly verTtl: boolean
}

/** Namespace-wide keys: the epoch (bumped to drop every entry) and the namespace pending count. */
export interface NamespaceKeys {
  readonly epoch: string
  readonly pendAll: string
}

const part = (id: string) => encodeURIComponent(id)

export const entryKeys = (prefix: string, cache: CacheName, tenantId: string, id: string): EntryKeys => {
  const ns = namespaceOf[cache]
  const suffix = `${part(tenantId)}:${part(id)}`
  return {
    cache,
    entry: `${prefix}${ns}:${suffix}`,
    ver: `${prefix}${ns}-ver:${suffix}`,
    pend: `${prefix}${ns}-pend:${suffix}`,
    verTtl: true
  }
}

export const namespaceKeys = (prefix: string, cache: CacheName): NamespaceKeys => ({
  epoch: `${prefix}${namespaceOf[cache]}-epoch`,
  pendAll: `${prefix}${namespaceOf[cache]}-pend-all`
})

/**
 * A write whose keys are unknown (a background job over every customer): its "version" is the
 * namespace epoch and its pending count the namespace one, so it invalidates every entry.
 */
export const wholeNamespace = (prefix: string, cache: CacheName): EntryKeys => {
  const ns = namespaceKeys(prefix, cache)
  return {
    cache,
    entry: `${prefix}${namespaceOf[cache]}-none`,
    ver: ns.epoch,
    pend: ns.pendAll,
    verTtl: false
  }
}

export const DEFINITIONS_CHANNEL = "turnvault:definitions"

/** Profile rows that stopped being active outside the stream (ItemChanges). */
export const ITEMS_CHANNEL = "turnvault:items"
