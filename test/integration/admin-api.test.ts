/**
 * The admin and query API on real PostgreSQL with two tenants: every answer holds only the key's
 * tenant's data, a missing, unknown or revoked key gets 401, another tenant's ids get 404, a key
 * over its rate gets 429 with Retry-After, and every body matches the served OpenAPI document.
 */
import { describe, expect, it } from "@effect/vitest"
import Ajv from "ajv"
import { Context, Effect, Layer } from "effect"
import { PgStoresWithReaderLive } from "../../src/adapters/postgres"
import { ApiKeys } from "../../src/ports/ApiKeys"
import { AuditStore } from "../../src/ports/AuditStore"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { SessionStore } from "../../src/ports/SessionStore"
import { QuarantineStore } from "../../src/ports/QuarantineStore"
import { JobLeases } from "../../src/ports/JobLeases"
import { historyEntry, profileField, sessionRecord, sessionState, turnRecord } from "../contract/fixtures"
import { recordingItemChanges, recordingSink, serveAdminApi } from "../support/adminApi"
import { freshDatabase, queryRows } from "../support/postgres"
import { redisServerProcess } from "../support/redis"
import { RedisCacheConfig, withRedisCache } from "../../src/adapters/redis"
import { Metrics } from "../../src/observability/Metrics"
import type { OutputMessage } from "../../src/ports/OutputSink"
import { verifyStores } from "../../src/app/commands/verify"
import { customerMessageKey } from "../../src/domain/model"
import { CONTROL_HEADER } from "../../streams/quarantine"

const at = "2024-05-01T10:00:00Z"
const now = new Date(at)

/** The stores on a fresh database, two tenants' data and keys, and the API on a free port. */
const serve = (rateLimit = { perSecond: 50, burst: 100 }, redisUrl?: string) =>
  Effect.gen(function* () {
    const db = yield* Effect.acquireRelease(
      Effect.promise(() => freshDatabase()),
      (d) => Effect.promise(() => d.drop())
    )
    const pgStores = PgStoresWithReaderLive({ connectionString: db.url, max: 4 })
    const stores = yield* Layer.build(
      redisUrl === undefined
        ? pgStores
        : withRedisCache({ ...RedisCacheConfig.defaults, url: redisUrl })(pgStores).pipe(
            Layer.provide(Metrics.layerTest)
          )
    )
    const seeded = yield* Effect.gen(function* () {
      yield* (yield* ProfileStore).writeFields([
        profileField({ tenant: "acme", customer: "cust-1", name: "email", value: "a@acme", at, turn: "t1" }),
        profileField({
          tenant: "acme",
          customer: "cust-1",
          name: "email",
          value: "b@acme",
          at: "2024-05-02T10:00:00Z",
          turn: "t2"
        }),
        profileField({
          tenant: "acme",
          customer: "cust-1",
          name: "otp",
          value: "1234",
          at,
          turn: "t1",
          expiresAt: "2024-05-01T11:00:00Z"
        }),
        profileField({
          tenant: "globex",
          customer: "cust-1",
          name: "email",
          value: "x@globex",
          at,
          turn: "t1"
        }),
        profileField({ tenant: "globex", customer: "cust-g", name: "plan", value: "pro", at, turn: "t1" })
      ])
      yield* (yield* AuditStore).append(
        [
          turnRecord("acme", "s1", 1),
          turnRecord("acme", "s1", 2, {
            outcome: { resolution: "UNRESOLVED", categories: [{ category: "SYSTEM_ERROR" }] }
          }),
          turnRecord("acme", "s1", 3),
          turnRecord("acme", "s2", 1, { turn_id: "t-noon", occurred_at: "2024-05-01T12:00:00.000Z" }),
          turnRecord("globex", "s-g", 1)
        ],
        []
      )
      const raw = profileField({
        tenant: "acme",
        customer: "cust-3",
        name: "raw",
        value: "r",
        at,
        turn: "r1"
      })
      yield* (yield* ProfileStore).writeFields([
        raw,
        profileField({
          tenant: "acme",
          customer: "cust-3",
          name: "summary",
          value: "s",
          at,
          turn: "r2",
          derivedFrom: raw.id
        })
      ])
      const parked = (tenant: string, session: string, offset: string) => ({
        tenant_id: tenant,
        session_id: session,
        customer_id: "cust-1",
        event_id: `evt-${offset}`,
        turn_id: null,
        topic: "turnvault.turn-events.by-customer",
        partition: 0,
        offset,
        key: null,
        value: Buffer.from("{}"),
        headers: {},
        reason: "store_refused" as const,
        error: "22023: refused"
      })
      yield* (yield* QuarantineStore).park([
        parked("acme", "s-bad", "7"),
        parked("acme", "s-bad", "8"),
        parked("globex", "s-g", "9")
      ])
      yield* (yield* ProfileStore).upsertRequirements(
        ["email", "phone"].map((field_name) => ({
          tenant_id: "acme",
          agent_id: "agent-1",
          scenario_id: "onboarding",
          field_name,
          required_level: "required" as const,
          fallback_action: "ask" as const,
          version: 1
        }))
      )
      yield* (yield* ProfileStore).writeAssets([
        {
          tenant_id: "acme",
          id: "doc-1",
          customer_id: "cust-1",
          kind: "document",
          uri: "s3://acme/doc-1.pdf",
          inline_ref: null,
          mime_type: "application/pdf",
          size_bytes: 1024,
          sha256: "a".repeat(64),
          derived_from_tool: null,
          status: "active",
          source_item_id: "t1",
          source_item_type: "turn",
          source_metadata: {},
          created_at: at
        }
      ])
      yield* (yield* AuditStore).append([], [historyEntry("acme", "s1", 1), historyEntry("acme", "s1", 2)])
      yield* (yield* SessionStore).save([
        sessionRecord(
          sessionState("acme", "s1", {
            lifecycle: { active_scenario_id: "onboarding", current_step_id: "a", canonical_intent: null },
            // a value the session holds and the vault does not (a session-only field)
            variables: {
              phone: {
                value: "+15550100",
                source: "USER",
                confidence: 1,
                updated_at: at,
                source_item_id: "s1-turn-1",
                scope: "SESSION",
                history: []
              }
            }
          })
        ),
        sessionRecord(sessionState("acme", "s2", { customer_id: "cust-2", status: "ENDED" })),
        sessionRecord(sessionState("acme", "s3")),
        sessionRecord(sessionState("globex", "s-g"))
      ])
      const leases = yield* JobLeases
      const claim = {
        job: "expire",
        tick: 5,
        instance: "host:1",
        startedAt: new Date("2024-05-01T10:00:00Z")
      }
      yield* leases.claim(claim)
      yield* leases.finish(claim, {
        status: "ok",
        finishedAt: new Date("2024-05-01T10:05:00Z"),
        itemsChanged: 3
      })
      const keys = yield* ApiKeys
      const acme = yield* keys.create("acme", "read", "test", now)
      const globex = yield* keys.create("globex", "read", "test", now)
      const acmeAdmin = yield* keys.create("acme", "admin", "test", now)
      const globexAdmin = yield* keys.create("globex", "admin", "test", now)
      const revoked = yield* keys.create("acme", "read", "test", now)
      yield* keys.revoke("acme", revoked.key_id, "test", now)
      return {
        acme: acme.token,
        globex: globex.token,
        revoked: revoked.token,
        acmeAdmin: acmeAdmin.token,
        globexAdmin: globexAdmin.token
      }
    }).pipe(Effect.provide(stores))
    const forgotten: Array<string> = []
    const changes = recordingItemChanges((items) => void forgotten.push(...items.map((item) => item.id)))
    const published: Array<OutputMessage> = []
    const port = yield* serveAdminApi(
      stores,
      { rateLimit, authCacheMs: 30_000 },
      changes,
      recordingSink((messages) => void published.push(...messages))
    )
    const call = (method: string, path: string, token?: string) =>
      Effect.promise(async () => {
        const response = await fetch(`http://127.0.0.1:${port}${path}`, {
          method,
          headers: token === undefined ? {} : { authorization: `Bearer ${token}` }
        })
        return { status: response.status, headers: response.headers, body: (await response.json()) as any }
      })
    const get = (path: string, token?: string) => call("GET", path, token)
    const keysOf = Effect.flatMap(ApiKeys, (keys) => keys.actions("acme")).pipe(Effect.provide(stores))
    return {
      ...seeded,
      base: `http://127.0.0.1:${port}`,
      get,
      call,
      raw: "cust-3:raw:r1",
      summary: "cust-3:summary:r2",
      forgotten,
      published,
      stores,
      db,
      actions: keysOf
    }
  })

/** A validator of the served OpenAPI document's component schemas. */
const openApiValidator = (document: any) => {
  const ajv = new Ajv({ strict: false, allErrors: true })
  // Effect marks every `Schema.Unknown` with the same `$id` ("/schemas/unknown", any value):
  // inside one document ajv would take those for clashing schemas, so they are left out
  const withoutIds = JSON.parse(JSON.stringify(document.components), (key, value) =>
    key === "$id" ? undefined : value
  )
  ajv.addSchema({ $id: "openapi.json", components: withoutIds })
  return (component: string, body: unknown) => {
    const validate = ajv.compile({ $ref: `openapi.json#/components/schemas/${component}` })
    return validate(body) ? [] : (validate.errors ?? [])
  }
}

describe("admin API", () => {
  it.scoped("answers each key with its own tenant's data only, shaped as its OpenAPI document says", () =>
    Effect.gen(function* () {
      const api = yield* serve()
      const doc = yield* api.get("/openapi.json")
      expect(doc.status).toBe(200)
      expect(doc.body.openapi).toMatch(/^3\./)
      expect(Object.keys(doc.body.paths).sort()).toEqual([
        "/v1/agents/{agentId}/definitions",
        "/v1/agents/{agentId}/requirements",
        "/v1/customers/{customerId}/assets",
        "/v1/customers/{customerId}/fields",
        "/v1/customers/{customerId}/fields/as-of",
        "/v1/customers/{customerId}/missing-fields",
        "/v1/items/{itemId}",
        "/v1/items/{itemId}/chain",
        "/v1/items/{itemId}/derived",
        "/v1/jobs",
        "/v1/quarantine",
        "/v1/quarantine/{sessionId}/drop",
        "/v1/quarantine/{sessionId}/release",
        "/v1/sessions",
        "/v1/sessions/{sessionId}",
        "/v1/sessions/{sessionId}/history",
        "/v1/sessions/{sessionId}/summary",
        "/v1/sessions/{sessionId}/turns",
        "/v1/turns",
        "/v1/verify"
      ])
      const matches = openApiValidator(doc.body)
      // the browsable reference of the same document, without a key
      const reference = yield* Effect.promise(() => fetch(`${api.base}/v1/docs`))
      expect([reference.status, reference.headers.get("content-type")]).toEqual([200, "text/html"])
      expect(yield* Effect.promise(() => reference.text())).toContain('"operationId":"vault.customerFields"')

      // the same customer id in both tenants: each key sees its own rows
      const acme = yield* api.get("/v1/customers/cust-1/fields", api.acme)
      expect(acme.status).toBe(200)
      expect(matches("CustomerFields", acme.body)).toEqual([])
      expect(acme.body.tenant_id).toBe("acme")
      expect(acme.body.fields.map((f: any) => f.value)).toEqual(["b@acme", "1234"])
      const history = yield* api.get("/v1/customers/cust-1/fields?history=true", api.acme)
      expect(history.body.fields.map((f: any) => [f.value, f.status])).toEqual([
        ["a@acme", "superseded"],
        ["b@acme", "active"],
        ["1234", "active"]
      ])

      // what the agent knew then: as of an instant, or right after a turn
      const asOf = (query: string, key = api.acme) =>
        api.get(`/v1/customers/cust-1/fields/as-of?${query}`, key)
      const values = (r: { body: any }) => r.body.fields.map((f: any) => `${f.name}=${f.value}`)
      const halfPastTen = yield* asOf("at=2024-05-01T10:30:00Z")
      expect(halfPastTen.status).toBe(200)
      expect(matches("CustomerFieldsAsOf", halfPastTen.body)).toEqual([])
      expect(values(halfPastTen)).toEqual(["email=a@acme", "otp=1234"])
      // at noon the otp had expired; the newer email came a day later
      const noon = yield* asOf("turn=t-noon")
      expect([noon.body.as_of, noon.body.turn_id]).toEqual(["2024-05-01T12:00:00.000Z", "t-noon"])
      expect(values(noon)).toEqual(["email=a@acme"])
      expect(values(yield* asOf("at=2024-06-01T00:00:00Z"))).toEqual(["email=b@acme"])
      // before anything was known, an unknown or another tenant's turn, a bad query
      expect((yield* asOf("turn=s1-turn-1")).status).toBe(404)
      expect((yield* asOf("turn=s-g-turn-1")).status).toBe(404)
      expect((yield* asOf("turn=t-noon", api.globex)).status).toBe(404)
      for (const bad of ["", "at=yesterday", "at=2024-05-01T10:30:00Z&turn=t-noon"])
        expect((yield* asOf(bad)).status, bad).toBe(400)
      const globex = yield* api.get("/v1/customers/cust-1/fields", api.globex)
      expect(globex.body.fields.map((f: any) => f.value)).toEqual(["x@globex"])

      // sessions: a page at a time by id, filtered; one session's state
      const page1 = yield* api.get("/v1/sessions?limit=2", api.acme)
      expect(page1.status).toBe(200)
      expect(matches("SessionPage", page1.body)).toEqual([])
      expect(page1.body.sessions.map((x: any) => x.session_id)).toEqual(["s1", "s2"])
      const page2 = yield* api.get(`/v1/sessions?limit=2&cursor=${page1.body.next_cursor}`, api.acme)
      expect(page2.body.sessions.map((x: any) => x.session_id)).toEqual(["s3"])
      expect(page2.body.next_cursor).toBeNull()
      const ended = yield* api.get("/v1/sessions?status=ENDED", api.acme)
      expect(ended.body.sessions.map((x: any) => [x.session_id, x.customer_id])).toEqual([["s2", "cust-2"]])
      expect((yield* api.get("/v1/sessions?customer=cust-2", api.acme)).body.sessions.length).toBe(1)
      expect(
        (yield* api.get("/v1/sessions", api.globex)).body.sessions.map((x: any) => x.session_id)
      ).toEqual(["s-g"])
      for (const bad of ["limit=0", "limit=501", "limit=x", "status=OPEN", "updated_from=soon"])
        expect((yield* api.get(`/v1/sessions?${bad}`, api.acme)).status, bad).toBe(400)
      const one = yield* api.get("/v1/sessions/s1", api.acme)
      expect(one.status).toBe(200)
      expect(matches("SessionDetail", one.body)).toEqual([])
      expect(one.body).toMatchObject({
        tenant_id: "acme",
        session_id: "s1",
        status: "ACTIVE",
        lifecycle: { active_scenario_id: "onboarding", current_step_id: "a" }
      })
      expect((yield* api.get("/v1/sessions/s-g", api.acme)).status).toBe(404)

      // the history ledger, lineage both ways, assets
      const ledger = yield* api.get("/v1/sessions/s1/history", api.acme)
      expect(matches("SessionHistory", ledger.body)).toEqual([])
      expect(ledger.body.entries.map((e: any) => e.seq)).toEqual([1, 2])
      expect((yield* api.get("/v1/sessions/s1/history", api.globex)).status).toBe(404)
      const chain = yield* api.get(`/v1/items/${api.summary}/chain`, api.acme)
      expect(matches("ItemLineage", chain.body)).toEqual([])
      expect(chain.body.items.map((i: any) => i.name)).toEqual(["summary", "raw"])
      expect((yield* api.get(`/v1/items/${api.summary}/chain`, api.globex)).status).toBe(404)
      const derived = yield* api.get(`/v1/items/${api.raw}/derived`, api.acme)
      expect(derived.body.items.map((i: any) => i.name)).toEqual(["summary"])
      expect((yield* api.get(`/v1/items/${api.raw}/derived`, api.globex)).body.items).toEqual([])
      const assets = yield* api.get("/v1/customers/cust-1/assets", api.acme)
      expect(matches("CustomerAssets", assets.body)).toEqual([])
      expect(assets.body.assets.map((a: any) => a.id)).toEqual(["doc-1"])
      expect((yield* api.get("/v1/customers/cust-1/assets", api.globex)).body.assets).toEqual([])

      // a session's turns a page at a time; the tenant's turns searched by outcome and time
      const firstTurns = yield* api.get("/v1/sessions/s1/turns?limit=2", api.acme)
      expect(firstTurns.body.turns.map((t: any) => t.turn_number)).toEqual([1, 2])
      const restTurns = yield* api.get(
        `/v1/sessions/s1/turns?limit=2&cursor=${firstTurns.body.next_cursor}`,
        api.acme
      )
      expect(restTurns.body.turns.map((t: any) => t.turn_number)).toEqual([3])
      expect(restTurns.body.next_cursor).toBeNull()
      const unresolved = yield* api.get("/v1/turns?resolution=UNRESOLVED", api.acme)
      expect(matches("TurnPage", unresolved.body)).toEqual([])
      expect(unresolved.body.turns.map((t: any) => t.turn_id)).toEqual(["s1-turn-2"])
      expect((yield* api.get("/v1/turns?category=SYSTEM_ERROR", api.acme)).body.turns.length).toBe(1)
      expect((yield* api.get("/v1/turns?category=SYSTEM_ERROR", api.globex)).body.turns).toEqual([])
      const all: Array<string> = []
      for (let cursor = ""; ; ) {
        const page = yield* api.get(`/v1/turns?limit=2${cursor}`, api.acme)
        all.push(...page.body.turns.map((t: any) => t.turn_id))
        if (page.body.next_cursor === null) break
        cursor = `&cursor=${page.body.next_cursor}`
      }
      expect(all).toEqual(["s1-turn-1", "s1-turn-2", "s1-turn-3", "t-noon"])
      const window = yield* api.get("/v1/turns?from=2024-05-01T08:01:30Z&to=2024-05-01T11:00:00Z", api.acme)
      expect(window.body.turns.map((t: any) => t.turn_id)).toEqual(["s1-turn-2", "s1-turn-3"])
      for (const bad of ["category=NOPE", "cursor=bm9wZQ", "from=later"])
        expect((yield* api.get(`/v1/turns?${bad}`, api.acme)).status, bad).toBe(400)

      // what a scenario still needs of the customer: email is held, phone is not
      const missing = yield* api.get(
        "/v1/customers/cust-1/missing-fields?agent=agent-1&scenario=onboarding",
        api.acme
      )
      expect(matches("CustomerMissingFields", missing.body)).toEqual([])
      expect(missing.body.missing_fields).toEqual([{ field_name: "phone", fallback_action: "ask" }])
      // with the session: its own phone counts, as it does for its turns
      const inSession = (query: string, key = api.acme) =>
        api.get(`/v1/customers/cust-1/missing-fields?agent=agent-1&scenario=onboarding&${query}`, key)
      expect((yield* inSession("session=s1")).body.missing_fields).toEqual([])
      // another customer's session, another tenant's, or none: 404
      for (const [query, key] of [
        ["session=s2", api.acme],
        ["session=s-g", api.acme],
        ["session=s1", api.globex],
        ["session=nope", api.acme]
      ] as const)
        expect((yield* inSession(query, key)).status, query).toBe(404)
      expect(
        (yield* api.get("/v1/customers/cust-1/missing-fields?agent=agent-1&scenario=onboarding", api.globex))
          .body.missing_fields
      ).toEqual([])

      // operations: the tenant's quarantine; the jobs' last runs (admin keys)
      const quarantine = yield* api.get("/v1/quarantine", api.acme)
      expect(matches("QuarantineList", quarantine.body)).toEqual([])
      expect(quarantine.body.sessions.map((q: any) => [q.session_id, q.parked, q.reason])).toEqual([
        ["s-bad", 2, "store_refused"]
      ])
      expect(
        (yield* api.get("/v1/quarantine", api.globex)).body.sessions.map((q: any) => q.session_id)
      ).toEqual(["s-g"])
      expect((yield* api.get("/v1/jobs", api.acme)).status).toBe(403)
      const jobs = yield* api.get("/v1/jobs", api.acmeAdmin)
      expect(matches("JobStatus", jobs.body)).toEqual([])
      expect(
        jobs.body.jobs.map((j: any) => [j.job, j.last_run?.tick, j.last_run?.status, j.last_success_at])
      ).toEqual([
        ["expire", 5, "ok", "2024-05-01T10:05:00.000Z"],
        ["orphans", undefined, undefined, null]
      ])

      const turns = yield* api.get("/v1/sessions/s1/turns", api.acme)
      expect(turns.status).toBe(200)
      expect(matches("SessionTurns", turns.body)).toEqual([])
      expect(turns.body.turns.map((t: any) => t.tenant_id)).toEqual(["acme", "acme", "acme"])

      // another tenant's ids: 404 and nothing of theirs
      for (const path of ["/v1/customers/cust-g/fields", "/v1/sessions/s-g/turns"]) {
        const other = yield* api.get(path, api.acme)
        expect(other.status, path).toBe(404)
        expect(JSON.stringify(other.body)).not.toMatch(/globex|pro/)
      }

      // no key, a malformed one, a forged one, a revoked one: 401 and no data
      const forged = api.acme.slice(0, -2) + (api.acme.endsWith("AA") ? "BB" : "AA")
      for (const token of [undefined, "nonsense", forged, api.revoked]) {
        const denied = yield* api.get("/v1/customers/cust-1/fields", token)
        expect(denied.status, String(token)).toBe(401)
        expect(denied.body.fields).toBeUndefined()
      }
    })
  )

  it.scoped("a key over its rate gets 429 with Retry-After; another key is not slowed", () =>
    Effect.gen(function* () {
      const api = yield* serve({ perSecond: 0.01, burst: 3 })
      const statuses: Array<number> = []
      for (let i = 0; i < 4; i++) statuses.push((yield* api.get("/v1/sessions/s1/turns", api.acme)).status)
      expect(statuses).toEqual([200, 200, 200, 429])
      const limited = yield* api.get("/v1/sessions/s1/turns", api.acme)
      expect(limited.status).toBe(429)
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
      expect((yield* api.get("/v1/sessions/s-g/turns", api.globex)).status).toBe(200)
    })
  )

  it.scoped("an admin key tombstones an item: 409 while others derive from it, logged, actors told", () =>
    Effect.gen(function* () {
      const api = yield* serve()
      const del = (path: string, key: string) => api.call("DELETE", path, key)
      expect((yield* del(`/v1/items/${api.raw}?reason=gdpr`, api.acme)).status).toBe(403)
      const refused = yield* del(`/v1/items/${api.raw}?reason=gdpr`, api.acmeAdmin)
      expect(refused.status).toBe(409)
      expect(refused.body.dependents).toEqual([api.summary])
      expect((yield* del(`/v1/items/${api.raw}?reason=gdpr`, api.globexAdmin)).status).toBe(404)
      expect((yield* del(`/v1/items/${api.raw}`, api.acmeAdmin)).status).toBe(400)
      expect(api.forgotten).toEqual([])
      const done = yield* del(`/v1/items/${api.raw}?reason=gdpr&cascade=true`, api.acmeAdmin)
      expect(done.status).toBe(200)
      expect(done.body.deleted.map((d: any) => [d.item_id, d.cascade_of, d.reason])).toEqual([
        [api.raw, null, "gdpr"],
        [api.summary, api.raw, "gdpr"]
      ])
      expect(api.forgotten).toEqual([api.raw, api.summary])
      const logged = (yield* api.actions).filter((a) => a.action === "item.delete")
      expect(logged.map((a) => [a.target, a.actor.startsWith("key:"), a.details.cascade])).toEqual([
        [api.raw, true, true]
      ])
      // gone from the vault's active rows
      expect((yield* api.get("/v1/customers/cust-3/fields", api.acme)).body.fields).toEqual([])
      const rows = (yield* api.get("/v1/customers/cust-3/fields?history=true", api.acme)).body.fields
      expect(rows.map((f: any) => f.status)).toEqual(["deleted", "deleted"])
    })
  )

  it.scoped(
    "definitions: read per agent, written by admin keys with a version bump, bad ones refused per field",
    () =>
      Effect.gen(function* () {
        const api = yield* serve()
        const putTo = (what: string) => (body: unknown, key: string) =>
          Effect.promise(async () => {
            const response = await fetch(`${api.base}/v1/agents/agent-1/${what}`, {
              method: "PUT",
              headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
              body: JSON.stringify(body)
            })
            return { status: response.status, body: (await response.json()) as any }
          })
        const put = putTo("definitions")
        const plan = {
          name: "plan",
          value_type: "enum",
          scope: "BUSINESS",
          validation: { allowed_values: ["a", "b"] }
        }
        expect((yield* api.get("/v1/agents/agent-1/definitions", api.acme)).body.definitions).toEqual([])
        expect((yield* put([plan], api.acme)).status).toBe(403)
        const first = yield* put([plan], api.acmeAdmin)
        expect(first.status).toBe(200)
        expect(first.body.changed).toBe(1)
        expect(first.body.definitions.map((d: any) => [d.tenant_id, d.agent_id, d.name, d.version])).toEqual([
          ["acme", "agent-1", "plan", 1]
        ])
        expect((yield* put([plan], api.acmeAdmin)).body.changed).toBe(0)
        const second = yield* put(
          [{ ...plan, validation: { allowed_values: ["a", "b", "c"] } }],
          api.acmeAdmin
        )
        expect([second.body.changed, second.body.definitions[0].version]).toEqual([1, 2])
        // a bad definition: 400 naming where, and nothing stored
        const bad = yield* put(
          [plan, { name: "seats", value_type: "count", scope: "BUSINESS" }],
          api.acmeAdmin
        )
        expect(bad.status).toBe(400)
        expect(JSON.stringify(bad.body)).toContain("value_type")
        const listed = yield* api.get("/v1/agents/agent-1/definitions", api.acme)
        expect(listed.body.definitions.map((d: any) => d.name)).toEqual(["plan"])
        expect((yield* api.get("/v1/agents/agent-1/definitions", api.globex)).body.definitions).toEqual([])
        expect((yield* api.actions).filter((a) => a.action === "definitions.put").length).toBe(3)

        // scenario requirements the same way (the seed holds email and phone for onboarding)
        const putReqs = putTo("requirements")
        const seat = {
          scenario_id: "onboarding",
          step_id: "plan",
          field_name: "plan",
          fallback_action: "block"
        }
        expect((yield* putReqs([seat], api.acme)).status).toBe(403)
        expect((yield* putReqs([{ ...seat, fallback_action: "shrug" }], api.acmeAdmin)).status).toBe(400)
        const reqs = yield* putReqs([seat], api.acmeAdmin)
        expect(reqs.status).toBe(200)
        expect(reqs.body.changed).toBe(1)
        expect(
          reqs.body.requirements.map((r: any) => [r.field_name, r.step_id ?? null, r.required_level])
        ).toEqual([
          ["email", null, "required"],
          ["phone", null, "required"],
          ["plan", "plan", "required"]
        ])
        expect((yield* api.get("/v1/agents/agent-1/requirements", api.globex)).body.requirements).toEqual([])
        const missingAtPlan = yield* api.get(
          "/v1/customers/cust-1/missing-fields?agent=agent-1&scenario=onboarding&step=plan",
          api.acme
        )
        expect(missingAtPlan.body.missing_fields.map((m: any) => m.field_name)).toEqual(["phone", "plan"])
      })
  )

  it.scoped("an admin key releases or drops a quarantined session through its owner, logged", () =>
    Effect.gen(function* () {
      const api = yield* serve()
      const post = (path: string, key: string) => api.call("POST", path, key)
      expect((yield* post("/v1/quarantine/s-bad/release", api.acme)).status).toBe(403)
      // another tenant's quarantined session, or one with nothing parked: 404, nothing published
      expect((yield* post("/v1/quarantine/s-g/release", api.acmeAdmin)).status).toBe(404)
      expect((yield* post("/v1/quarantine/s1/drop", api.acmeAdmin)).status).toBe(404)
      expect(api.published).toEqual([])
      const released = yield* post("/v1/quarantine/s-bad/release", api.acmeAdmin)
      expect(released.status).toBe(202)
      // the 202 body's schema is inline in the document (a status other than 200 is not a component)
      const doc = (yield* api.get("/openapi.json")).body
      const release = doc.paths["/v1/quarantine/{sessionId}/release"].post.responses["202"]
      const validate = new Ajv({ strict: false }).compile(release.content["application/json"].schema)
      expect(validate(released.body), JSON.stringify(validate.errors)).toBe(true)
      expect(released.body).toEqual({
        action: "release",
        tenant_id: "acme",
        session_id: "s-bad",
        events: 2,
        topic: "turnvault.turn-events.by-customer",
        partition: 0
      })
      // the control message goes where the session's events are read, keyed like them
      expect(
        api.published.map((m) => [m.topic, m.key, m.headers?.[CONTROL_HEADER], JSON.parse(String(m.value))])
      ).toEqual([
        [
          "turnvault.turn-events.by-customer",
          customerMessageKey("acme", "cust-1"),
          "release",
          { tenant_id: "acme", session_id: "s-bad" }
        ]
      ])
      const dropped = yield* post("/v1/quarantine/s-g/drop", api.globexAdmin)
      expect([dropped.status, dropped.body.action, dropped.body.events]).toEqual([202, "drop", 1])
      const logged = (yield* api.actions).filter((a) => a.action.startsWith("quarantine."))
      expect(logged.map((a) => [a.action, a.target, a.details.events])).toEqual([
        ["quarantine.release", "s-bad", 2]
      ])
    })
  )

  it.scoped(
    "verify recomputes a session's or a customer's chains as the CLI does, and finds a changed record",
    () =>
      Effect.gen(function* () {
        const api = yield* serve()
        const matches = openApiValidator((yield* api.get("/openapi.json")).body)
        const cli = yield* verifyStores({ tenantId: "acme", sessionId: "s1" }).pipe(
          Effect.provide(api.stores)
        )
        const one = yield* api.get("/v1/verify?session=s1", api.acme)
        expect(one.status).toBe(200)
        expect(matches("VerifyReport", one.body)).toEqual([])
        expect([one.body.sessions, one.body.turn_records]).toEqual([cli.sessions, cli.turnRecords])
        expect(one.body.broken).toEqual(cli.broken.map(({ tenant_id: _, ...rest }) => rest))
        // a record changed behind the processor's back (its append-only trigger switched off)
        yield* Effect.promise(() =>
          queryRows(
            api.db.url,
            `SET session_replication_role = replica;
             UPDATE turn_records SET record = jsonb_set(record, '{outcome,resolution}', '"RESOLVED_BY_HAND"')
           WHERE tenant_id = 'acme' AND turn_id = 's1-turn-2'`
          )
        )
        const after = yield* api.get("/v1/verify?session=s1", api.acme)
        expect(after.body.ok).toBe(false)
        // the fixtures' records carry no real hashes, so every one is reported; the changed one
        // is reported with its new content hash, the others as before
        const at = (body: any, turn: string) =>
          body.broken.filter((b: any) => b.at?.turn_id === turn).map((b: any) => b.problem)
        expect(after.body.broken.length).toBe(one.body.broken.length)
        expect(at(after.body, "s1-turn-2")).not.toEqual(at(one.body, "s1-turn-2"))
        expect(at(after.body, "s1-turn-2").join()).toContain("changed after it was written")
        for (const turn of ["s1-turn-1", "s1-turn-3"])
          expect(at(after.body, turn)).toEqual(at(one.body, turn))
        // one customer's sessions: cust-1 holds s1 and s3 (s2 is cust-2's)
        const customer = yield* api.get("/v1/verify?customer=cust-1", api.acme)
        expect(customer.body.sessions).toBe(2)
        expect(customer.body.broken.map((b: any) => b.session_id)).toContain("s1")
        // another tenant's session, no target, both targets
        expect((yield* api.get("/v1/verify?session=s1", api.globex)).status).toBe(404)
        expect((yield* api.get("/v1/verify", api.acme)).status).toBe(400)
        expect((yield* api.get("/v1/verify?session=s1&customer=cust-1", api.acme)).status).toBe(400)
      })
  )

  it.scoped(
    "with Redis, a customer's active vault is read through the cache and a write invalidates it",
    () =>
      Effect.gen(function* () {
        const redis = yield* Effect.acquireRelease(
          Effect.promise(() => redisServerProcess()),
          (r) => Effect.promise(() => r.stop())
        )
        const api = yield* serve(undefined, redis.url)
        const values = (r: { body: any }) => r.body.fields.map((f: any) => `${f.name}=${f.value}`)
        const read = (key: string) => api.get("/v1/customers/cust-1/fields", key)
        expect(values(yield* read(api.acme))).toEqual(["email=b@acme", "otp=1234"])
        const hits = Effect.promise(async () => {
          const registry = Context.unsafeGet(api.stores, Metrics).registry
          const metric = await registry.getSingleMetric("turnvault_cache_requests_total")?.get()
          const hit = metric?.values.find((v) => v.labels.cache === "profile" && v.labels.result === "hit")
          return hit?.value ?? 0
        })
        expect(yield* hits).toBe(0)
        // the same customer id of another tenant is another entry
        expect(values(yield* read(api.globex))).toEqual(["email=x@globex"])
        expect(values(yield* read(api.acme))).toEqual(["email=b@acme", "otp=1234"])
        expect(yield* hits).toBe(1)
        // a write through the (cached) store: the next read sees it
        yield* Effect.flatMap(ProfileStore, (store) =>
          store.writeFields([
            profileField({
              tenant: "acme",
              customer: "cust-1",
              name: "email",
              value: "c@acme",
              at: "2024-05-03T10:00:00Z",
              turn: "t3"
            })
          ])
        ).pipe(Effect.provide(api.stores))
        expect(values(yield* read(api.acme))).toEqual(["email=c@acme", "otp=1234"])
      })
  )
})
