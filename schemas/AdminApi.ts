/**
 * The tenant admin and query API (issue 14), as one `@effect/platform` HttpApi: these definitions
 * validate requests, encode responses and generate the OpenAPI document (`/openapi.json`), so the
 * three cannot disagree. Every endpoint needs a tenant API key (`Authorization: Bearer tvk_...`);
 * the tenant is the key's, never the URL's or the body's. Another tenant's ids answer 404.
 */
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "@effect/platform"
import { Context, Schema } from "effect"
import { FieldDefinition } from "./FieldDefinition"
import { ScenarioFieldRequirement } from "./ScenarioRequirement"
import { MissingField, OutcomeCategory, Resolution, TurnRecord } from "./Outputs"

export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401, description: "no key, or a key that is unknown or revoked" })
) {}

export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404, description: "nothing of the key's tenant under this id" })
) {}

export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 403, description: "the key's scope does not allow it (admin needed)" })
) {}

export class HasDependents extends Schema.TaggedError<HasDependents>()(
  "HasDependents",
  { message: Schema.String, dependents: Schema.Array(Schema.String) },
  HttpApiSchema.annotations({
    status: 409,
    description: "other items derive from it; pass cascade=true to delete them too"
  })
) {}

/** Who the request is (set by the Authorization middleware from the key). */
export class CurrentTenant extends Context.Tag("turnvault/CurrentTenant")<
  CurrentTenant,
  { readonly tenant_id: string; readonly key_id: string; readonly scope: "read" | "admin" }
>() {}

export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("Authorization", {
  failure: Unauthorized,
  provides: CurrentTenant,
  security: { tenantKey: HttpApiSecurity.bearer }
}) {}

const Nullable = <S extends Schema.Schema.Any>(s: S) => Schema.NullOr(s)

/** A stored profile row of the customer context vault (DESIGN 3.6). */
export const VaultField = Schema.Struct({
  id: Schema.String,
  customer_id: Schema.String,
  name: Schema.String,
  value: Schema.Unknown,
  scope: Schema.String,
  status: Schema.Literal("active", "superseded", "expired", "orphaned", "deleted", "pending_review"),
  source: Schema.String,
  confidence: Schema.Number,
  updated_at: Schema.String,
  source_item_id: Schema.String,
  source_item_type: Schema.String,
  source_metadata: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  superseded_by_id: Nullable(Schema.String),
  case_id: Nullable(Schema.String),
  expires_at: Nullable(Schema.String),
  validation_error: Nullable(Schema.String),
  definition_version: Nullable(Schema.Number)
}).annotations({ identifier: "VaultField" })

export const CustomerFields = Schema.Struct({
  tenant_id: Schema.String,
  customer_id: Schema.String,
  fields: Schema.Array(VaultField)
}).annotations({ identifier: "CustomerFields" })

export const CustomerFieldsAsOf = Schema.Struct({
  tenant_id: Schema.String,
  customer_id: Schema.String,
  as_of: Schema.String.annotations({ description: "the instant the fields are as of (UTC)" }),
  turn_id: Schema.optional(Schema.String),
  fields: Schema.Array(VaultField)
}).annotations({ identifier: "CustomerFieldsAsOf" })

/** Page sizes: 1 to 500 (each endpoint says its default). */
const Limit = Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 500))

const Instant = Schema.String.pipe(
  Schema.filter((s) => !Number.isNaN(Date.parse(s)), { message: () => "an ISO 8601 instant" })
)

const NextCursor = Schema.NullOr(Schema.String).annotations({
  description: "pass as cursor for the next page; null at the end"
})

export const SessionTurns = Schema.Struct({
  tenant_id: Schema.String,
  session_id: Schema.String,
  turns: Schema.Array(TurnRecord),
  next_cursor: NextCursor
}).annotations({ identifier: "SessionTurns" })

export const TurnPage = Schema.Struct({
  tenant_id: Schema.String,
  turns: Schema.Array(TurnRecord),
  next_cursor: NextCursor
}).annotations({ identifier: "TurnPage" })

export const CustomerMissingFields = Schema.Struct({
  tenant_id: Schema.String,
  customer_id: Schema.String,
  agent_id: Schema.String,
  scenario_id: Schema.String,
  step_id: Schema.NullOr(Schema.String),
  missing_fields: Schema.Array(MissingField)
}).annotations({ identifier: "CustomerMissingFields" })

export class VaultGroup extends HttpApiGroup.make("vault")
  .add(
    HttpApiEndpoint.get("customerFields", "/v1/customers/:customerId/fields")
      .setPath(Schema.Struct({ customerId: Schema.String }))
      .setUrlParams(
        Schema.Struct({
          history: Schema.optional(
            Schema.Literal("true", "false").annotations({
              description: "superseded, expired, orphaned and deleted rows too"
            })
          )
        })
      )
      .addSuccess(CustomerFields)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "A customer's vault: active fields, or every row with history=true")
  )
  .add(
    HttpApiEndpoint.get("customerMissingFields", "/v1/customers/:customerId/missing-fields")
      .setPath(Schema.Struct({ customerId: Schema.String }))
      .setUrlParams(
        Schema.Struct({
          agent: Schema.String,
          scenario: Schema.String,
          step: Schema.optional(Schema.String),
          session: Schema.optional(
            Schema.String.annotations({
              description: "also count this session's values (session-only ones included), as its turns do"
            })
          )
        })
      )
      .addSuccess(CustomerMissingFields)
      .addError(NotFound)
      .annotate(
        OpenApi.Summary,
        "The required fields of a scenario step the customer's vault (and, with session, that session) does not hold"
      )
  )
  .add(
    HttpApiEndpoint.get("customerFieldsAsOf", "/v1/customers/:customerId/fields/as-of")
      .setPath(Schema.Struct({ customerId: Schema.String }))
      .setUrlParams(
        Schema.Struct({
          at: Schema.optional(Instant.annotations({ description: "an instant (ISO 8601)" })),
          turn: Schema.optional(
            Schema.String.annotations({ description: "a turn id: right after that turn" })
          )
        })
      )
      .addSuccess(CustomerFieldsAsOf)
      .addError(NotFound)
      .addError(BadRequest)
      .annotate(
        OpenApi.Summary,
        "What the agent knew: the customer's fields as of an instant, or right after a turn (exactly one of at, turn)"
      )
  )
  .middleware(Authorization) {}

const Lifecycle = Schema.Struct({
  active_scenario_id: Schema.NullOr(Schema.String),
  current_step_id: Schema.NullOr(Schema.String),
  canonical_intent: Schema.NullOr(Schema.String)
})

export const SessionSummary = Schema.Struct({
  session_id: Schema.String,
  customer_id: Schema.String,
  agent_id: Schema.String,
  status: Schema.Literal("ACTIVE", "ENDED", "ABANDONED"),
  turn_count: Schema.Number,
  last_turn_number: Schema.Number,
  updated_at: Schema.String,
  lifecycle: Schema.NullOr(Lifecycle).annotations({
    description: "null for states stored before it was kept"
  })
}).annotations({ identifier: "SessionSummary" })

export const SessionDetail = Schema.Struct({
  ...SessionSummary.fields,
  tenant_id: Schema.String,
  content_hash: Schema.String,
  last_event_key: Schema.NullOr(Schema.String),
  variables: Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
    description: "values kept only in the session (SESSION scope or persist: false), by name"
  })
}).annotations({ identifier: "SessionDetail" })

/** A session's rolling summary, kept by the ingest worker (`turnvault ingest`). */
export const ConversationSummary = Schema.Struct({
  tenant_id: Schema.String,
  session_id: Schema.String,
  customer_id: Schema.String,
  summary: Schema.String,
  covers_turn_ids: Schema.Array(Schema.String).annotations({
    description: "the turns it covers, oldest first (the newest 1000 of a long session)"
  }),
  through_turn_number: Schema.Number,
  template: Schema.String.annotations({ description: "the template that wrote it, name@version" }),
  model: Schema.String,
  updated_at: Schema.String
}).annotations({ identifier: "ConversationSummary" })

export const SessionPage = Schema.Struct({
  tenant_id: Schema.String,
  sessions: Schema.Array(SessionSummary),
  next_cursor: Schema.NullOr(Schema.String).annotations({
    description: "pass as cursor for the next page; null at the end"
  })
}).annotations({ identifier: "SessionPage" })

export const HistoryEntry = Schema.Struct({
  tenant_id: Schema.String,
  session_id: Schema.String,
  seq: Schema.Number,
  event_key: Schema.String,
  turn_id: Schema.NullOr(Schema.String),
  reason: Schema.String,
  from_status: Schema.NullOr(Schema.String),
  to_status: Schema.String,
  actor: Schema.String,
  occurred_at: Schema.String,
  prev_content_hash: Schema.NullOr(Schema.String),
  new_content_hash: Schema.String,
  entry_hash: Schema.NullOr(Schema.String).annotations({
    description:
      "SHA-256 over the entry (but new_content_hash) and the previous entry's entry_hash; null on entries written before it was kept"
  })
}).annotations({ identifier: "HistoryEntry" })

export const SessionHistory = Schema.Struct({
  tenant_id: Schema.String,
  session_id: Schema.String,
  entries: Schema.Array(HistoryEntry)
}).annotations({ identifier: "SessionHistory" })

export const Asset = Schema.Struct({
  id: Schema.String,
  customer_id: Schema.String,
  kind: Schema.String,
  uri: Schema.NullOr(Schema.String),
  inline_ref: Schema.NullOr(Schema.String),
  mime_type: Schema.String,
  size_bytes: Schema.Number,
  sha256: Schema.String,
  derived_from_tool: Schema.NullOr(Schema.String),
  status: Schema.String,
  source_item_id: Schema.String,
  source_item_type: Schema.String,
  created_at: Schema.String
}).annotations({ identifier: "Asset" })

export const CustomerAssets = Schema.Struct({
  tenant_id: Schema.String,
  customer_id: Schema.String,
  assets: Schema.Array(Asset)
}).annotations({ identifier: "CustomerAssets" })

export const ItemLineage = Schema.Struct({
  tenant_id: Schema.String,
  item_id: Schema.String,
  items: Schema.Array(VaultField)
}).annotations({ identifier: "ItemLineage" })

export const DeletedItems = Schema.Struct({
  tenant_id: Schema.String,
  deleted: Schema.Array(
    Schema.Struct({
      item_id: Schema.String,
      customer_id: Schema.String,
      name: Schema.String,
      deleted_at: Schema.String,
      deleted_by: Schema.String,
      reason: Schema.String,
      cascade_of: Schema.NullOr(Schema.String)
    })
  )
}).annotations({ identifier: "DeletedItems" })

export const QuarantineList = Schema.Struct({
  tenant_id: Schema.String,
  sessions: Schema.Array(
    Schema.Struct({
      session_id: Schema.String,
      customer_id: Schema.String,
      parked: Schema.Number,
      released: Schema.Number,
      dropped: Schema.Number,
      first_parked_at: Schema.String,
      reason: Schema.String,
      error: Schema.String
    })
  )
}).annotations({ identifier: "QuarantineList" })

export const JobStatus = Schema.Struct({
  jobs: Schema.Array(
    Schema.Struct({
      job: Schema.String,
      last_run: Schema.NullOr(
        Schema.Struct({
          tick: Schema.Number,
          instance: Schema.String,
          status: Schema.Literal("running", "ok", "failed"),
          started_at: Schema.String,
          finished_at: Schema.NullOr(Schema.String),
          items_changed: Schema.NullOr(Schema.Number)
        })
      ),
      last_success_at: Schema.NullOr(Schema.String)
    })
  )
}).annotations({ identifier: "JobStatus" })

export const QuarantineResolution = Schema.Struct({
  tenant_id: Schema.String,
  session_id: Schema.String,
  action: Schema.Literal("release", "drop"),
  events: Schema.Number.annotations({ description: "parked events the owner will release or drop" }),
  topic: Schema.String,
  partition: Schema.Number
}).annotations({
  identifier: "QuarantineResolution",
  description:
    "accepted: a control message is on the session's partition; its owner carries it out where it stands in the stream"
})

export const VerifyReport = Schema.Struct({
  tenant_id: Schema.String,
  sessions: Schema.Number,
  turn_records: Schema.Number,
  ok: Schema.Boolean,
  broken: Schema.Array(
    Schema.Struct({
      session_id: Schema.String,
      problem: Schema.String,
      at: Schema.optional(
        Schema.Union(
          Schema.Struct({ turn_id: Schema.String, turn_number: Schema.Number }),
          Schema.Struct({ seq: Schema.Number, event_key: Schema.String })
        )
      )
    })
  )
}).annotations({ identifier: "VerifyReport" })

const resolveQuarantine = <Name extends string>(name: Name, verb: "release" | "drop") =>
  HttpApiEndpoint.post(name, `/v1/quarantine/:sessionId/${verb}`)
    .setPath(Schema.Struct({ sessionId: Schema.String }))
    .addSuccess(QuarantineResolution, { status: 202 })
    .addError(NotFound)
    .addError(Forbidden)

export class OperationsGroup extends HttpApiGroup.make("operations")
  .add(
    HttpApiEndpoint.get("listQuarantine", "/v1/quarantine")
      .addSuccess(QuarantineList)
      .annotate(
        OpenApi.Summary,
        "The tenant's quarantined sessions and their parked events, counted by status"
      )
  )
  .add(
    resolveQuarantine("releaseQuarantine", "release").annotate(
      OpenApi.Summary,
      "Release a quarantined session (admin keys): its parked events go through the flow again, in order"
    )
  )
  .add(
    resolveQuarantine("dropQuarantine", "drop").annotate(
      OpenApi.Summary,
      "Drop a quarantined session's parked events (admin keys): they go to the DLQ as operator_dropped"
    )
  )
  .add(
    HttpApiEndpoint.get("verify", "/v1/verify")
      .setUrlParams(
        Schema.Struct({ session: Schema.optional(Schema.String), customer: Schema.optional(Schema.String) })
      )
      .addSuccess(VerifyReport)
      .addError(BadRequest)
      .addError(NotFound)
      .annotate(
        OpenApi.Summary,
        "Recompute one session's or one customer's sessions' hash chains and ledgers; list what does not match"
      )
  )
  .add(
    HttpApiEndpoint.get("jobStatus", "/v1/jobs")
      .addSuccess(JobStatus)
      .addError(Forbidden)
      .annotate(OpenApi.Summary, "The background jobs' last runs across the cluster (admin keys)")
  )
  .add(
    HttpApiEndpoint.del("deleteItem", "/v1/items/:itemId")
      .setPath(Schema.Struct({ itemId: Schema.String }))
      .setUrlParams(
        Schema.Struct({
          reason: Schema.String.pipe(Schema.minLength(1)).annotations({
            description: "why (kept in the tombstone)"
          }),
          cascade: Schema.optional(Schema.Literal("true", "false"))
        })
      )
      .addSuccess(DeletedItems)
      .addError(NotFound)
      .addError(Forbidden)
      .addError(HasDependents)
      .annotate(
        OpenApi.Summary,
        "Tombstone a vault item (admin keys): refused with 409 while others derive from it, unless cascade=true"
      )
  )
  .middleware(Authorization) {}

/** A definition as the API takes it: the tenant is the key's and the agent the path's. */
export const DefinitionInput = FieldDefinition.pipe(
  Schema.omit("tenant_id", "agent_id", "version")
).annotations({
  identifier: "DefinitionInput"
})

export const AgentDefinitions = Schema.Struct({
  tenant_id: Schema.String,
  agent_id: Schema.String,
  definitions: Schema.Array(FieldDefinition)
}).annotations({ identifier: "AgentDefinitions" })

export const DefinitionsChanged = Schema.Struct({
  tenant_id: Schema.String,
  agent_id: Schema.String,
  changed: Schema.Number.annotations({
    description: "definitions that were new or changed (their version went up)"
  }),
  definitions: Schema.Array(FieldDefinition)
}).annotations({ identifier: "DefinitionsChanged" })

/** A requirement as the API takes it: the tenant is the key's and the agent the path's. */
export const RequirementInput = ScenarioFieldRequirement.pipe(
  Schema.omit("tenant_id", "agent_id", "version")
).annotations({
  identifier: "RequirementInput"
})

export const AgentRequirements = Schema.Struct({
  tenant_id: Schema.String,
  agent_id: Schema.String,
  requirements: Schema.Array(ScenarioFieldRequirement)
}).annotations({ identifier: "AgentRequirements" })

export const RequirementsChanged = Schema.Struct({
  tenant_id: Schema.String,
  agent_id: Schema.String,
  changed: Schema.Number.annotations({
    description: "requirements that were new or changed (their version went up)"
  }),
  requirements: Schema.Array(ScenarioFieldRequirement)
}).annotations({ identifier: "RequirementsChanged" })

export class DefinitionsGroup extends HttpApiGroup.make("definitions")
  .add(
    HttpApiEndpoint.get("listRequirements", "/v1/agents/:agentId/requirements")
      .setPath(Schema.Struct({ agentId: Schema.String }))
      .addSuccess(AgentRequirements)
      .annotate(OpenApi.Summary, "An agent's scenario field requirements, with their versions")
  )
  .add(
    HttpApiEndpoint.put("putRequirements", "/v1/agents/:agentId/requirements")
      .setPath(Schema.Struct({ agentId: Schema.String }))
      .setPayload(Schema.Array(RequirementInput))
      .addSuccess(RequirementsChanged)
      .addError(Forbidden)
      .annotate(
        OpenApi.Summary,
        "Upsert scenario requirements (admin keys): versioned, reloaded by running instances at once"
      )
  )
  .add(
    HttpApiEndpoint.get("listDefinitions", "/v1/agents/:agentId/definitions")
      .setPath(Schema.Struct({ agentId: Schema.String }))
      .addSuccess(AgentDefinitions)
      .annotate(OpenApi.Summary, "An agent's field definitions, with their versions")
  )
  .add(
    HttpApiEndpoint.put("putDefinitions", "/v1/agents/:agentId/definitions")
      .setPath(Schema.Struct({ agentId: Schema.String }))
      .setPayload(Schema.Array(DefinitionInput))
      .addSuccess(DefinitionsChanged)
      .addError(Forbidden)
      .annotate(
        OpenApi.Summary,
        "Upsert field definitions (admin keys): a changed one gets version + 1, and running instances reload them at once"
      )
  )
  .middleware(Authorization) {}

export class LineageGroup extends HttpApiGroup.make("lineage")
  .add(
    HttpApiEndpoint.get("itemChain", "/v1/items/:itemId/chain")
      .setPath(Schema.Struct({ itemId: Schema.String }))
      .addSuccess(ItemLineage)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "The item, then everything it derives from, nearest first")
  )
  .add(
    HttpApiEndpoint.get("derivedItems", "/v1/items/:itemId/derived")
      .setPath(Schema.Struct({ itemId: Schema.String }))
      .addSuccess(ItemLineage)
      .annotate(OpenApi.Summary, "The live items that name the item in their derived_from")
  )
  .add(
    HttpApiEndpoint.get("customerAssets", "/v1/customers/:customerId/assets")
      .setPath(Schema.Struct({ customerId: Schema.String }))
      .addSuccess(CustomerAssets)
      .annotate(OpenApi.Summary, "The customer's assets (files and other artefacts its turns brought)")
  )
  .middleware(Authorization) {}

export class SessionsGroup extends HttpApiGroup.make("sessions")
  .add(
    HttpApiEndpoint.get("searchTurns", "/v1/turns")
      .setUrlParams(
        Schema.Struct({
          category: Schema.optional(OutcomeCategory),
          resolution: Schema.optional(Resolution),
          from: Schema.optional(Instant.annotations({ description: "occurred at or after (ISO 8601)" })),
          to: Schema.optional(Instant.annotations({ description: "occurred before (ISO 8601)" })),
          limit: Schema.optional(Limit.annotations({ description: "default 100" })),
          cursor: Schema.optional(Schema.String)
        })
      )
      .addSuccess(TurnPage)
      .addError(BadRequest)
      .annotate(
        OpenApi.Summary,
        "The tenant's turn records by outcome category, resolution and time, in time order"
      )
  )
  .add(
    HttpApiEndpoint.get("sessionHistory", "/v1/sessions/:sessionId/history")
      .setPath(Schema.Struct({ sessionId: Schema.String }))
      .addSuccess(SessionHistory)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "A session's history ledger (hash-chained state transitions), in order")
  )
  .add(
    HttpApiEndpoint.get("listSessions", "/v1/sessions")
      .setUrlParams(
        Schema.Struct({
          customer: Schema.optional(Schema.String),
          status: Schema.optional(Schema.Literal("ACTIVE", "ENDED", "ABANDONED")),
          updated_from: Schema.optional(
            Instant.annotations({ description: "updated at or after (ISO 8601)" })
          ),
          updated_to: Schema.optional(Instant.annotations({ description: "updated before (ISO 8601)" })),
          limit: Schema.optional(Limit),
          cursor: Schema.optional(Schema.String)
        })
      )
      .addSuccess(SessionPage)
      .addError(BadRequest)
      .annotate(OpenApi.Summary, "The tenant's sessions by id, filtered, a page at a time")
  )
  .add(
    HttpApiEndpoint.get("getSession", "/v1/sessions/:sessionId")
      .setPath(Schema.Struct({ sessionId: Schema.String }))
      .addSuccess(SessionDetail)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "A session's stored state and lifecycle")
  )
  .add(
    HttpApiEndpoint.get("sessionSummary", "/v1/sessions/:sessionId/summary")
      .setPath(Schema.Struct({ sessionId: Schema.String }))
      .addSuccess(ConversationSummary)
      .addError(NotFound)
      .annotate(
        OpenApi.Summary,
        "A session's rolling summary (by the ingest worker), with the turns it covers, template and model"
      )
  )
  .add(
    HttpApiEndpoint.get("sessionTurns", "/v1/sessions/:sessionId/turns")
      .setPath(Schema.Struct({ sessionId: Schema.String }))
      .setUrlParams(
        Schema.Struct({
          limit: Schema.optional(Limit.annotations({ description: "default 100" })),
          cursor: Schema.optional(Schema.String)
        })
      )
      .addSuccess(SessionTurns)
      .addError(NotFound)
      .addError(BadRequest)
      .annotate(OpenApi.Summary, "A session's turn records, in order")
  )
  .middleware(Authorization) {}

export class AdminApi extends HttpApi.make("turnvault")
  .add(VaultGroup)
  .add(SessionsGroup)
  .add(LineageGroup)
  .add(OperationsGroup)
  .add(DefinitionsGroup)
  .annotate(OpenApi.Title, "turnvault admin and query API")
  .annotate(OpenApi.Version, "1") {}
