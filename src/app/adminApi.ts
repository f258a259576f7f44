/**
 * The admin and query API's handlers (schemas/AdminApi.ts), mounted by `start` on the HTTP port
 * when PostgreSQL is configured. Each request: a token bucket per key (429 with Retry-After, before
 * any hashing, so a flood cannot burn CPU on scrypt), then the key is authenticated (ApiKeys;
 * a verified key is remembered for `authCacheMs`, so revocation takes effect within that), then
 * the handler reads through TenantReader, whose connection sees the key's tenant only.
 */
import {
  HttpApiBuilder,
  HttpApiScalar,
  type HttpApp,
  HttpServerRequest,
  HttpServerResponse,
  OpenApi
} from "@effect/platform"
import { Clock, Deferred, Effect, Layer, Option, Redacted } from "effect"
import { createHash } from "node:crypto"
import {
  AdminApi,
  Authorization,
  BadRequest,
  CurrentTenant,
  Forbidden,
  HasDependents,
  NotFound,
  Unauthorized
} from "../../schemas/AdminApi"
import { PgApiKeys, PgClient, PgCustomerKeys, TenantReader } from "../adapters/postgres"
import { CustomerKeys, type CustomerKeysError } from "../ports/CustomerKeys"
import { DEFAULT_SEALING, type SealingOptions } from "../privacy/keyCache"
import { makeOpener } from "../privacy/opening"
import { configuredKek } from "./postgresStores"
import { RedisCache } from "../adapters/redis"
import type { SessionRow } from "../adapters/postgres/TenantReader"
import type { AppConfig } from "../config/AppConfig"
import { HttpLive } from "../observability/HttpApi"
import { parseKey } from "../domain/apiKey"
import { checkStoredSession } from "../domain/integrity"
import type { ControlAction } from "../../streams/quarantine"
import { publishResolution } from "./commands/quarantine"
import type { ProfileField } from "../domain/model"
import { type Bucket, type RateLimit, takeToken } from "../domain/rateLimit"
import { byScenario, missingFields } from "../domain/requirements"
import { ApiKeys, type Principal } from "../ports/ApiKeys"
import { ItemChanges } from "../ports/ItemChanges"
import { JobLeases } from "../ports/JobLeases"
import { JOB_NAMES } from "../jobs/BackgroundJobs"
import { deletedAsChanged, ProfileStore } from "../ports/ProfileStore"

export interface AdminApiConfig {
  readonly rateLimit: RateLimit
  /** How long a verified key is trusted without hashing it again (ms). */
  readonly authCacheMs: number
}

export const defaultAdminApiConfig: AdminApiConfig = {
  rateLimit: { perSecond: 50, burst: 100 },
  authCacheMs: 30_000
}

/** The most keys whose verification is remembered at once (the oldest go first). */
const AUTH_CACHE_SIZE = 10_000

const AuthorizationLive = (config: AdminApiConfig) =>
  Layer.effect(
    Authorization,
    Effect.gen(function* () {
      const keys = yield* ApiKeys
      const verified = new Map<string, { readonly principal: Principal; readonly until: number }>()
      // a check in progress, shared by the requests that arrive meanwhile with the same key:
      // a burst of one new key costs one scrypt, not one per request
      const checking = new Map<string, Deferred.Deferred<Principal | null>>()
      const check = (digest: string, token: string) =>
        Effect.gen(function* () {
          const pending = checking.get(digest)
          if (pending !== undefined) return yield* Deferred.await(pending)
          const deferred = yield* Deferred.make<Principal | null>()
          checking.set(digest, deferred)
          const principal = yield* keys.authenticate(token).pipe(
            Effect.tapError((error) =>
              Effect.logWarning("api key check failed", { operation: error.operation })
            ),
            Effect.orElseSucceed(() => null),
            Effect.ensuring(Effect.sync(() => checking.delete(digest)))
          )
          yield* Deferred.succeed(deferred, principal)
          return principal
        })
      return {
        tenantKey: (token: Redacted.Redacted<string>) =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            const digest = createHash("sha256").update(Redacted.value(token)).digest("hex")
            const cached = verified.get(digest)
            if (cached !== undefined && cached.until > now) return cached.principal
            const principal = yield* check(digest, Redacted.value(token))
            if (principal === null)
              return yield* new Unauthorized({ message: "a valid tenant API key is required" })
            if (verified.size >= AUTH_CACHE_SIZE) verified.delete(verified.keys().next().value!)
            verified.set(digest, { principal, until: now + config.authCacheMs })
            return principal
          })
      }
    })
  )

/** Appends an admin action of the request's key to `admin_actions`. */
const logAdmin = (
  tenant: CurrentTenant["Type"],
  action: string,
  target: string,
  details: Readonly<Record<string, unknown>>
) =>
  Effect.gen(function* () {
    const keys = yield* ApiKeys
    const at = new Date(yield* Clock.currentTimeMillis).toISOString()
    yield* keys.logAction({
      tenant_id: tenant.tenant_id,
      at,
      actor: `key:${tenant.key_id}`,
      action,
      target,
      details
    })
  }).pipe(Effect.orDie)

/** A handler's request: the key's tenant, and the reader on its tenant path. */
const requestContext = Effect.all([CurrentTenant, TenantReader.TenantReader])

const notFound = (what: string) => new NotFound({ message: `no ${what} for this tenant` })

/** A cached list of one customer's active fields (ids are checked: a corrupt entry is a miss). */
const decodeActive =
  (tenantId: string, customerId: string) =>
  (text: string): ReadonlyArray<ProfileField> | undefined => {
    try {
      const rows: unknown = JSON.parse(text)
      if (!Array.isArray(rows)) return undefined
      const fields = rows as ReadonlyArray<ProfileField>
      return fields.every((f) => f.tenant_id === tenantId && f.customer_id === customerId)
        ? fields
        : undefined
    } catch {
      return undefined
    }
  }

/**
 * A customer's active fields. With Redis, read through the customer's profile entry (field `api`,
 * beside the stream's own variants): every write of the customer invalidates the whole entry, so a
 * hit is as current as the stream's. The entry is named by the key's tenant, and a miss is loaded
 * on the tenant path, so what the cache holds came through row-level security too.
 */
const activeFields = (
  cache: Option.Option<RedisCache["Type"]>,
  reader: TenantReader.TenantReader["Type"],
  tenantId: string,
  customerId: string
) => {
  const load = Effect.map(reader.listProfile(tenantId, customerId), (rows) =>
    rows.filter((row) => row.status === "active")
  )
  return Option.match(cache, {
    onNone: () => load,
    onSome: (redis) =>
      redis.readThrough({
        keys: redis.keys("profile", tenantId, customerId),
        field: "api",
        decode: decodeActive(tenantId, customerId),
        encode: (fields) => (fields.length === 0 ? null : [["api", JSON.stringify(fields)]]),
        load
      })
  })
}

const VaultLive = HttpApiBuilder.group(AdminApi, "vault", (handlers) =>
  Effect.map(Effect.serviceOption(RedisCache), (cache) =>
    handlers
      .handle("customerFields", ({ path, urlParams }) =>
        Effect.gen(function* () {
          const [tenant, reader] = yield* requestContext
          const every = reader.listProfile(tenant.tenant_id, path.customerId).pipe(Effect.orDie)
          const answer = (fields: ReadonlyArray<ProfileField>) => ({
            tenant_id: tenant.tenant_id,
            customer_id: path.customerId,
            fields
          })
          if (urlParams.history === "true") {
            const rows = yield* every
            return rows.length === 0 ? yield* notFound("customer") : answer(rows)
          }
          const fields = yield* activeFields(cache, reader, tenant.tenant_id, path.customerId).pipe(
            Effect.orDie
          )
          // none active: a customer whose values all ended (200, empty) or none of this tenant's (404)
          if (fields.length === 0 && (yield* every).length === 0) return yield* notFound("customer")
          return answer(fields)
        })
      )
      .handle("customerMissingFields", ({ path, urlParams }) =>
        Effect.gen(function* () {
          const [tenant, reader] = yield* requestContext
          const requirements = yield* reader
            .listRequirements(tenant.tenant_id, urlParams.agent)
            .pipe(Effect.orDie)
          const rows = yield* reader.listProfile(tenant.tenant_id, path.customerId).pipe(Effect.orDie)
          const held = new Set(rows.filter((row) => row.status === "active").map((row) => row.name))
          // a session's own values count too, as they do for its turns' missing_fields
          if (urlParams.session !== undefined) {
            const session = yield* reader.getSession(tenant.tenant_id, urlParams.session).pipe(Effect.orDie)
            if (session === null || session.customer_id !== path.customerId)
              return yield* notFound("session of this customer")
            for (const name of Object.keys(session.state.variables)) held.add(name)
          }
          return {
            tenant_id: tenant.tenant_id,
            customer_id: path.customerId,
            agent_id: urlParams.agent,
            scenario_id: urlParams.scenario,
            step_id: urlParams.step ?? null,
            missing_fields: missingFields(
              byScenario(requirements),
              urlParams.scenario,
              urlParams.step,
              (name) => held.has(name)
            )
          }
        })
      )
      .handle("customerFieldsAsOf", ({ path, urlParams }) =>
        Effect.gen(function* () {
          const [tenant, reader] = yield* requestContext
          if ((urlParams.at === undefined) === (urlParams.turn === undefined))
            return yield* new BadRequest({ message: "give exactly one of at and turn" })
          const as = urlParams.turn === undefined ? { at: urlParams.at! } : { turnId: urlParams.turn }
          const found = yield* reader.vaultAsOf(tenant.tenant_id, path.customerId, as).pipe(Effect.orDie)
          if (found === null) return yield* notFound("turn")
          if (found.fields.length === 0) return yield* notFound("customer fields at that time")
          return {
            tenant_id: tenant.tenant_id,
            customer_id: path.customerId,
            as_of: found.at,
            ...(urlParams.turn === undefined ? {} : { turn_id: urlParams.turn }),
            fields: found.fields
          }
        })
      )
  )
)

/** A page's cursor: the last row's keyset position, opaque to the caller. */
const encodeCursor = (position: string) => Buffer.from(position, "utf8").toString("base64url")
const decodeCursor = (cursor: string) => Buffer.from(cursor, "base64url").toString("utf8")

/**
 * A page of rows fetched `limit + 1` at a time (the extra row only tells that there is a next
 * page): the first `limit` rows, and the cursor of the last of them when more follow.
 */
const pageOf = <A>(rows: ReadonlyArray<A>, limit: number, position: (row: A) => string) => {
  const items = rows.slice(0, limit)
  const last = items[items.length - 1]
  return {
    items,
    next_cursor: rows.length > limit && last !== undefined ? encodeCursor(position(last)) : null
  }
}

/** A turn search position, [occurred_at, turn_id], or null when the cursor is not one. */
const parsePosition = (text: string): { occurred_at: string; turn_id: string } | null => {
  try {
    const value: unknown = JSON.parse(text)
    if (!Array.isArray(value) || value.length !== 2) return null
    const [occurred_at, turn_id] = value as [unknown, unknown]
    if (
      typeof occurred_at !== "string" ||
      typeof turn_id !== "string" ||
      Number.isNaN(Date.parse(occurred_at))
    )
      return null
    return { occurred_at, turn_id }
  } catch {
    return null
  }
}

const summaryOf = (row: SessionRow) => ({
  session_id: row.session_id,
  customer_id: row.customer_id,
  agent_id: row.agent_id,
  status: row.state.status,
  turn_count: row.state.turn_count,
  last_turn_number: row.state.last_turn_number,
  updated_at: row.updated_at,
  lifecycle: row.state.lifecycle ?? null
})

const SessionsLive = HttpApiBuilder.group(AdminApi, "sessions", (handlers) =>
  handlers
    .handle("listSessions", ({ urlParams }) =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        const limit = urlParams.limit ?? 50
        // one more than the page tells whether there is a next one
        const rows = yield* reader
          .listSessions(tenant.tenant_id, {
            ...(urlParams.customer === undefined ? {} : { customerId: urlParams.customer }),
            ...(urlParams.status === undefined ? {} : { status: urlParams.status }),
            ...(urlParams.updated_from === undefined ? {} : { updatedFrom: urlParams.updated_from }),
            ...(urlParams.updated_to === undefined ? {} : { updatedTo: urlParams.updated_to }),
            ...(urlParams.cursor === undefined ? {} : { after: decodeCursor(urlParams.cursor) }),
            limit: limit + 1
          })
          .pipe(Effect.orDie)
        const page = pageOf(rows, limit, (row) => row.session_id)
        return {
          tenant_id: tenant.tenant_id,
          sessions: page.items.map(summaryOf),
          next_cursor: page.next_cursor
        }
      })
    )
    .handle("getSession", ({ path }) =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        const row = yield* reader.getSession(tenant.tenant_id, path.sessionId).pipe(Effect.orDie)
        if (row === null) return yield* notFound("session")
        return {
          ...summaryOf(row),
          tenant_id: tenant.tenant_id,
          content_hash: row.content_hash,
          last_event_key: row.state.last_event_key,
          variables: Object.fromEntries(
            Object.entries(row.state.variables).map(([name, entry]) => [name, entry.value])
          )
        }
      })
    )
    .handle("sessionSummary", ({ path }) =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        const summary = yield* reader.sessionSummary(tenant.tenant_id, path.sessionId).pipe(Effect.orDie)
        if (summary === null) return yield* notFound("summary")
        return summary
      })
    )
    .handle("sessionHistory", ({ path }) =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        const entries = yield* reader.listHistory(tenant.tenant_id, path.sessionId).pipe(Effect.orDie)
        if (entries.length === 0) return yield* notFound("session")
        return { tenant_id: tenant.tenant_id, session_id: path.sessionId, entries }
      })
    )
    .handle("sessionTurns", ({ path, urlParams }) =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        const limit = urlParams.limit ?? 100
        const after = urlParams.cursor === undefined ? undefined : Number(decodeCursor(urlParams.cursor))
        if (after !== undefined && !Number.isInteger(after))
          return yield* new BadRequest({ message: "cursor is not one of ours" })
        const rows = yield* reader
          .listTurnRecords(tenant.tenant_id, path.sessionId, {
            ...(after === undefined ? {} : { after }),
            limit: limit + 1
          })
          .pipe(Effect.orDie)
        if (rows.length === 0 && after === undefined) return yield* notFound("session")
        const page = pageOf(rows, limit, (turn) => String(turn.turn_number))
        return {
          tenant_id: tenant.tenant_id,
          session_id: path.sessionId,
          turns: page.items,
          next_cursor: page.next_cursor
        }
      })
    )
    .handle("searchTurns", ({ urlParams }) =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        const limit = urlParams.limit ?? 100
        let after: { occurred_at: string; turn_id: string } | undefined
        if (urlParams.cursor !== undefined) {
          const position = parsePosition(decodeCursor(urlParams.cursor))
          if (position === null) return yield* new BadRequest({ message: "cursor is not one of ours" })
          after = position
        }
        const rows = yield* reader
          .searchTurns(tenant.tenant_id, {
            ...(urlParams.category === undefined ? {} : { category: urlParams.category }),
            ...(urlParams.resolution === undefined ? {} : { resolution: urlParams.resolution }),
            ...(urlParams.from === undefined ? {} : { from: urlParams.from }),
            ...(urlParams.to === undefined ? {} : { to: urlParams.to }),
            ...(after === undefined ? {} : { after }),
            limit: limit + 1
          })
          .pipe(Effect.orDie)
        const page = pageOf(rows, limit, (turn) =>
          JSON.stringify([new Date(turn.occurred_at).toISOString(), turn.turn_id])
        )
        return { tenant_id: tenant.tenant_id, turns: page.items, next_cursor: page.next_cursor }
      })
    )
)

const LineageLive = HttpApiBuilder.group(AdminApi, "lineage", (handlers) =>
  handlers
    .handle("itemChain", ({ path }) =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        const items = yield* reader.itemChain(tenant.tenant_id, path.itemId).pipe(Effect.orDie)
        if (items.length === 0) return yield* notFound("item")
        return { tenant_id: tenant.tenant_id, item_id: path.itemId, items }
      })
    )
    .handle("derivedItems", ({ path }) =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        const items = yield* reader.derivedItems(tenant.tenant_id, path.itemId).pipe(Effect.orDie)
        return { tenant_id: tenant.tenant_id, item_id: path.itemId, items }
      })
    )
    .handle("customerAssets", ({ path }) =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        const assets = yield* reader.listAssets(tenant.tenant_id, path.customerId).pipe(Effect.orDie)
        return { tenant_id: tenant.tenant_id, customer_id: path.customerId, assets }
      })
    )
)

/** Releases or drops a quarantined session of the key's tenant (admin keys), logged. */
const resolveParked = (action: ControlAction, sessionId: string) =>
  Effect.gen(function* () {
    const tenant = yield* CurrentTenant
    if (tenant.scope !== "admin")
      return yield* new Forbidden({ message: `to ${action} a quarantined session needs an admin key` })
    const resolution = yield* publishResolution(action, tenant.tenant_id, sessionId).pipe(Effect.orDie)
    if (resolution === null) return yield* notFound("quarantined session")
    yield* logAdmin(tenant, `quarantine.${action}`, sessionId, {
      events: resolution.events,
      topic: resolution.topic,
      partition: resolution.partition
    })
    return resolution
  })

const OperationsLive = HttpApiBuilder.group(AdminApi, "operations", (handlers) =>
  handlers
    .handle("releaseQuarantine", ({ path }) => resolveParked("release", path.sessionId))
    .handle("dropQuarantine", ({ path }) => resolveParked("drop", path.sessionId))
    .handle("verify", ({ urlParams }) =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        const { session, customer } = urlParams
        if ((session === undefined) === (customer === undefined))
          return yield* new BadRequest({ message: "give exactly one of session and customer" })
        const target = session === undefined ? { customer: customer! } : { session }
        const sessions = yield* reader.integritySnapshot(tenant.tenant_id, target).pipe(Effect.orDie)
        if (sessions.length === 0) return yield* notFound(session === undefined ? "customer" : "session")
        const broken = sessions.flatMap(({ session: row, records, recordColumns, history }) =>
          checkStoredSession({
            state: row.state,
            content_hash: row.content_hash,
            records,
            history,
            sessionColumns: { tenant_id: tenant.tenant_id, ...row },
            recordColumns
          }).map((problem) => ({ session_id: row.session_id, ...problem }))
        )
        return {
          tenant_id: tenant.tenant_id,
          sessions: sessions.length,
          turn_records: sessions.reduce((n, one) => n + one.records.length, 0),
          ok: broken.length === 0,
          broken
        }
      })
    )
    .handle("listQuarantine", () =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        const sessions = yield* reader.quarantinedSessions(tenant.tenant_id).pipe(Effect.orDie)
        return { tenant_id: tenant.tenant_id, sessions }
      })
    )
    .handle("jobStatus", () =>
      Effect.gen(function* () {
        const tenant = yield* CurrentTenant
        if (tenant.scope !== "admin")
          return yield* new Forbidden({ message: "job status needs an admin key" })
        const leases = yield* JobLeases
        const jobs = yield* Effect.forEach(JOB_NAMES, (job) =>
          Effect.map(leases.latest(job), ({ last, lastOk }) => ({
            job,
            last_run:
              last === null
                ? null
                : {
                    tick: last.tick,
                    instance: last.instance,
                    status: last.status,
                    started_at: last.startedAt.toISOString(),
                    finished_at: last.finishedAt?.toISOString() ?? null,
                    items_changed: last.itemsChanged
                  },
            last_success_at: lastOk?.finishedAt?.toISOString() ?? null
          }))
        ).pipe(Effect.orDie)
        return { jobs }
      })
    )
    .handle("deleteItem", ({ path, urlParams }) =>
      Effect.gen(function* () {
        const tenant = yield* CurrentTenant
        if (tenant.scope !== "admin") return yield* new Forbidden({ message: "deleting needs an admin key" })
        const profiles = yield* ProfileStore
        const changes = yield* ItemChanges
        const by = `key:${tenant.key_id}`
        const at = new Date(yield* Clock.currentTimeMillis)
        const cascade = urlParams.cascade === "true"
        const deleted = yield* profiles
          .deleteItem(tenant.tenant_id, path.itemId, { by, reason: urlParams.reason, at, cascade })
          .pipe(
            Effect.catchTag(
              "ProfileItemRefused",
              (refused): Effect.Effect<never, NotFound | HasDependents> =>
                Effect.fail(
                  refused.reason === "not_found"
                    ? notFound("item")
                    : new HasDependents({
                        message: "other items derive from it; pass cascade=true to delete them too",
                        dependents: refused.dependents ?? []
                      })
                )
            ),
            Effect.catchTag("ProfileStoreError", Effect.die)
          )
        // running instances' actors drop the values (this one's too: ItemChanges is the service's)
        yield* changes.publish(deleted.map(deletedAsChanged))
        yield* logAdmin(tenant, "item.delete", path.itemId, {
          reason: urlParams.reason,
          cascade,
          deleted: deleted.map((d) => d.item_id)
        })
        return {
          tenant_id: tenant.tenant_id,
          deleted: deleted.map((d) => ({
            item_id: d.item_id,
            customer_id: d.customer_id,
            name: d.name,
            deleted_at: d.deleted_at,
            deleted_by: d.deleted_by,
            reason: d.reason,
            cascade_of: d.cascade_of
          }))
        }
      })
    )
)

const DefinitionsLive = HttpApiBuilder.group(AdminApi, "definitions", (handlers) =>
  handlers
    .handle("listRequirements", ({ path }) =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        const requirements = yield* reader.listRequirements(tenant.tenant_id, path.agentId).pipe(Effect.orDie)
        return { tenant_id: tenant.tenant_id, agent_id: path.agentId, requirements }
      })
    )
    .handle("putRequirements", ({ path, payload }) =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        if (tenant.scope !== "admin")
          return yield* new Forbidden({ message: "changing requirements needs an admin key" })
        const profiles = yield* ProfileStore
        const changed = yield* profiles
          .upsertRequirements(
            payload.map((r) => ({ ...r, tenant_id: tenant.tenant_id, agent_id: path.agentId, version: 1 }))
          )
          .pipe(Effect.orDie)
        yield* logAdmin(tenant, "requirements.put", path.agentId, {
          fields: payload.map((r) => `${r.scenario_id}/${r.step_id ?? "*"}/${r.field_name}`),
          changed
        })
        const requirements = yield* reader.listRequirements(tenant.tenant_id, path.agentId).pipe(Effect.orDie)
        return { tenant_id: tenant.tenant_id, agent_id: path.agentId, changed, requirements }
      })
    )
    .handle("listDefinitions", ({ path }) =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        const definitions = yield* reader.listDefinitions(tenant.tenant_id, path.agentId).pipe(Effect.orDie)
        return { tenant_id: tenant.tenant_id, agent_id: path.agentId, definitions }
      })
    )
    .handle("putDefinitions", ({ path, payload }) =>
      Effect.gen(function* () {
        const [tenant, reader] = yield* requestContext
        if (tenant.scope !== "admin")
          return yield* new Forbidden({ message: "changing definitions needs an admin key" })
        // through the service's store, which announces the change (DefinitionsChanges: hot reload)
        const profiles = yield* ProfileStore
        const changed = yield* profiles
          .upsertDefinitions(
            payload.map((d) => ({ ...d, tenant_id: tenant.tenant_id, agent_id: path.agentId, version: 1 }))
          )
          .pipe(Effect.orDie)
        yield* logAdmin(tenant, "definitions.put", path.agentId, {
          names: payload.map((d) => d.name),
          changed
        })
        const definitions = yield* reader.listDefinitions(tenant.tenant_id, path.agentId).pipe(Effect.orDie)
        return { tenant_id: tenant.tenant_id, agent_id: path.agentId, changed, definitions }
      })
    )
)

/** The OpenAPI document of the API, as served on `/openapi.json`. */
export const openApiDocument = () => OpenApi.fromApi(AdminApi)

/** 429 with Retry-After when the request's key (parsed, not yet verified) is over its rate. */
const rateLimited = (limit: RateLimit) => {
  const buckets = new Map<string, Bucket>()
  return <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R | HttpServerRequest.HttpServerRequest> =>
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const header = request.headers.authorization ?? ""
      const parsed = parseKey(header.replace(/^Bearer\s+/i, ""))
      if (parsed === null) return yield* app
      const key = `${parsed.tenant_id}\u0000${parsed.key_id}`
      const taken = takeToken(buckets.get(key), yield* Clock.currentTimeMillis, limit)
      buckets.set(key, taken.bucket)
      if (taken.allowed) return yield* app
      return HttpServerResponse.unsafeJson(
        { _tag: "TooManyRequests", message: "rate limit of this key exceeded" },
        { status: 429, headers: { "retry-after": String(taken.retryAfterSeconds) } }
      )
    })
}

/**
 * The HTTP layer of `start`: the probes and metrics, plus the admin API when PostgreSQL is
 * configured and TURNVAULT_API is not false. The API has pools of its own (2 processor
 * connections for keys and bindings, 4 tenant connections), so it never takes the stream's.
 */
export const httpLayer = (config: AppConfig) =>
  Option.match(config.apiEnabled ? config.databaseUrl : Option.none(), {
    onNone: () => HttpLive(config.httpPort),
    onSome: (url) => {
      const connectionString = Redacted.value(url)
      const reader = TenantReader.layer({
        connectionString: Option.match(config.tenantDatabaseUrl, {
          onNone: () => TenantReader.authenticatorUrl(connectionString),
          onSome: Redacted.value
        })
      })
      const kek = configuredKek(config)
      const stores = Layer.mergeAll(
        PgApiKeys.layer,
        kek === null
          ? reader
          : openedReads({ ...DEFAULT_SEALING, cacheTtlMs: config.keyCacheTtlMs }).pipe(
              Layer.provide(Layer.merge(reader, PgCustomerKeys.layer(kek)))
            )
      ).pipe(Layer.provide(PgClient.layer({ connectionString, max: 2 })))
      const api = adminHttpApp({
        rateLimit: { perSecond: config.apiRatePerSecond, burst: config.apiRateBurst },
        authCacheMs: defaultAdminApiConfig.authCacheMs
      })
      return Layer.unwrapEffect(
        Effect.map(api, (app) => HttpLive(config.httpPort, { app, openApi: openApiDocument() }))
      ).pipe(Layer.provide(stores))
    }
  })

/**
 * With TURNVAULT_KEK, the tenant reads' profile rows and summaries come out opened, as the store
 * decorators open them for the pipeline (an erased customer's read as null).
 */
const openedReads = (options: SealingOptions) =>
  Layer.effect(
    TenantReader.TenantReader,
    Effect.gen(function* () {
      const inner = yield* TenantReader.TenantReader
      const opener = makeOpener(yield* CustomerKeys, options)
      const toError = (error: CustomerKeysError) =>
        new TenantReader.TenantReadError({ operation: `keys.${error.operation}`, cause: error.cause })
      const rows = <E, R>(read: Effect.Effect<ReadonlyArray<ProfileField>, E, R>) =>
        Effect.flatMap(read, (found) => Effect.mapError(opener.openRows(found), toError))
      return {
        ...inner,
        listProfile: (tenantId, customerId) => rows(inner.listProfile(tenantId, customerId)),
        itemChain: (tenantId, id) => rows(inner.itemChain(tenantId, id)),
        derivedItems: (tenantId, id) => rows(inner.derivedItems(tenantId, id)),
        vaultAsOf: (tenantId, customerId, as) =>
          Effect.flatMap(inner.vaultAsOf(tenantId, customerId, as), (found) =>
            found === null
              ? Effect.succeed(null)
              : Effect.map(Effect.mapError(opener.openRows(found.fields), toError), (fields) => ({
                  ...found,
                  fields
                }))
          ),
        sessionSummary: (tenantId, sessionId) =>
          Effect.flatMap(inner.sessionSummary(tenantId, sessionId), (found) =>
            found === null ? Effect.succeed(null) : Effect.mapError(opener.openSummary(found), toError)
          )
      } satisfies TenantReader.TenantReader["Type"]
    })
  )

/** The API as one HttpApp (paths under /v1), over the context's ApiKeys and TenantReader. */
export const adminHttpApp = (config: AdminApiConfig = defaultAdminApiConfig) =>
  Effect.gen(function* () {
    const app = yield* HttpApiBuilder.httpApp.pipe(
      Effect.provide(
        // the browsable reference of the same definitions (Scalar, served inline: no CDN)
        HttpApiScalar.layer({ path: "/v1/docs" }).pipe(
          Layer.provideMerge(
            HttpApiBuilder.api(AdminApi).pipe(
              Layer.provide([VaultLive, SessionsLive, LineageLive, OperationsLive, DefinitionsLive]),
              Layer.provide(AuthorizationLive(config))
            )
          ),
          Layer.merge(HttpApiBuilder.Router.Live),
          Layer.merge(HttpApiBuilder.Middleware.layer)
        )
      )
    )
    return rateLimited(config.rateLimit)(app)
  })
