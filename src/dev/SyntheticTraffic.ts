/**
 * Deterministic synthetic traffic: many tenants, sessions and customers, realistic candidate
 * variables with a share of invalid values, unknown fields, session ends, case closures,
 * duplicates and malformed lines. Used by `start`, by tests and by benchmarks.
 */
import { createHash } from "node:crypto"
import { customerMessageKey } from "../domain/model"

export interface TrafficOptions {
  readonly seed: number
  readonly tenants: number
  readonly customersPerTenant: number
  /** Sessions open at a time; a finished session is replaced by a new one. */
  readonly concurrentSessions: number
  readonly turnsPerSession: number
  /** Share of candidate values that are invalid (0..1). */
  readonly invalidShare: number
  /** Share of lines that are malformed JSON (0..1). */
  readonly malformedShare: number
  /** Share of turns re-sent as exact duplicates (0..1). */
  readonly duplicateShare: number
  readonly startTime: number
}

export const defaultTrafficOptions: TrafficOptions = {
  seed: 42,
  tenants: 3,
  customersPerTenant: 2_000,
  concurrentSessions: 500,
  turnsPerSession: 8,
  invalidShare: 0.05,
  malformedShare: 0.005,
  duplicateShare: 0.01,
  startTime: Date.parse("2026-01-01T00:00:00Z")
}

export const tenantIds = (n: number) => Array.from({ length: n }, (_, i) => `tenant-${i + 1}`)
export const AGENTS = ["support-agent", "sales-agent"]

/** mulberry32: small, fast, seeded. */
const prng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface OpenSession {
  readonly tenant: string
  readonly agent: string
  readonly session: string
  readonly customer: string
  readonly caseId: string
  turn: number
}

export interface TrafficLine {
  /** The message key producers use: the session id. */
  readonly key: string
  readonly value: string
  /** Where the embedded log places the line: by customer, as the repartition stage does on Kafka. */
  readonly partitionKey?: string
}

export const makeSyntheticTraffic = (options: TrafficOptions = defaultTrafficOptions) => {
  const random = prng(options.seed)
  const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!
  const tenants = tenantIds(options.tenants)
  let sessionCounter = 0
  let eventCounter = 0
  let clock = options.startTime
  let last: TrafficLine | null = null

  const openSession = (): OpenSession => {
    sessionCounter += 1
    const tenant = pick(tenants)
    return {
      tenant,
      agent: pick(AGENTS),
      session: `sess-${sessionCounter}`,
      customer: `cust-${Math.floor(random() * options.customersPerTenant)}`,
      caseId: `case-${sessionCounter}`,
      turn: 0
    }
  }
  const open: Array<OpenSession> = Array.from({ length: options.concurrentSessions }, openSession)

  const validValues: Record<string, () => unknown> = {
    full_name: () => pick(["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"]),
    email: () => pick(["ada@example.com", " Alan@Example.org", "grace@navy.mil"]),
    phone: () => pick(["+44 20 7946 0958", "+1 (415) 555-0100", "+33.1.23.45.67.89"]),
    birth_date: () => pick(["1815-12-10", "1912-06-23", "1906-12-09"]),
    plan: () => pick(["basic", "plus", "pro"]),
    seats: () => pick([1, 5, "12", 40]),
    monthly_budget: () => pick([99.5, "250", 1200]),
    newsletter: () => pick([true, "yes", 0, "FALSE"]),
    website: () => pick(["https://example.com/a", "http://shop.example.org"]),
    order_id: () => `ORD-${String(Math.floor(random() * 1e6)).padStart(6, "0")}`,
    issue_opened_at: () => pick(["2026-01-01T10:00:00+02:00", "2026-01-02T08:30:00Z"]),
    mood: () => pick(["happy", "neutral", "upset"]),
    last_topic: () => pick(["billing", "shipping", "returns"]),
    preferences: () => ({ channel: pick(["email", "sms"]), lang: pick(["en", "fr"]) })
  }
  const invalidValues: Record<string, () => unknown> = {
    email: () => "not-an-email",
    phone: () => "12345",
    birth_date: () => "2023-02-30",
    plan: () => "platinum",
    seats: () => 0,
    website: () => "ftp://example.com",
    order_id: () => "ORDER-1"
  }
  const fieldNames = Object.keys(validValues)
  const invalidNames = Object.keys(invalidValues)

  const candidates = () => {
    const out: Record<
      string,
      { value: unknown; confidence?: number; source?: string; derived_from?: ReadonlyArray<string> }
    > = {}
    const count = 1 + Math.floor(random() * 3)
    for (let i = 0; i < count; i++) {
      if (random() < options.invalidShare) {
        const name = pick(invalidNames)
        out[name] = { value: invalidValues[name]!() }
      } else if (random() < 0.03) {
        out[`unknown_${Math.floor(random() * 5)}`] = { value: "x" }
      } else {
        const name = pick(fieldNames)
        out[name] = {
          value: validValues[name]!(),
          confidence: Math.round(random() * 100) / 100,
          source: "USER"
        }
      }
    }
    return out
  }

  const common = (s: OpenSession, type: string) => ({
    schema_version: 1,
    event_type: type,
    event_id: `evt-${++eventCounter}`,
    tenant_id: s.tenant,
    agent_id: s.agent,
    session_id: s.session,
    customer_id: s.customer,
    occurred_at: new Date(clock).toISOString(),
    case_id: s.caseId
  })

  /**
   * Lineage without a random draw (the rest of the traffic stays the same): on every fifth turn the
   * first value derives from the turn's document, on the turn after it from the previous turn.
   */
  const withLineage = (s: OpenSession, values: ReturnType<typeof candidates>) => {
    const first = Object.keys(values)[0]
    const source =
      s.turn % 5 === 0
        ? `${s.session}-doc-${s.turn}`
        : s.turn % 5 === 1 && s.turn > 1
          ? `turn:${s.session}-t${s.turn - 1}`
          : null
    if (first === undefined || source === null) return values
    return { ...values, [first]: { ...values[first]!, derived_from: [source] } }
  }

  const turn = (s: OpenSession) => {
    s.turn += 1
    const awaiting = random() < 0.3
    return {
      ...common(s, "turn.completed"),
      turn_id: `${s.session}-t${s.turn}`,
      turn_number: s.turn,
      // every seventh turn names a website, for the ingest worker's hint extractor (no random draw)
      user_message:
        s.turn % 7 === 0
          ? `Our new website is https://${s.customer}.example.com, please note it.`
          : "Hello, I would like to update my details.",
      agent_response: "Of course, I have noted that for you.",
      canonical_intent: pick(["update_profile", "billing_question", null]),
      candidate_variables: withLineage(s, candidates()),
      matched_rules:
        random() < 0.15 ? [] : [{ rule_id: pick(["r-greet", "r-billing", "r-update"]), score: 0.9 }],
      scenario: awaiting
        ? {
            active_scenario_id: "onboarding",
            current_step_id: `step-${s.turn}`,
            awaiting_user_input: true,
            lifecycle_decisions: { onboarding: s.turn === 1 ? "START" : "CONTINUE" },
            step_transitions: {
              onboarding: { from_step: s.turn === 1 ? null : `step-${s.turn - 1}`, to_step: `step-${s.turn}` }
            }
          }
        : null,
      tool_executions:
        random() < 0.05
          ? [{ tool_id: "crm.lookup", success: false, error: "timeout", duration_ms: 2000 }]
          : [],
      enforcement:
        random() < 0.03
          ? { violations: ["pii_leak"], blocked: random() < 0.5, regeneration_attempts: 1 }
          : null,
      // every fifth turn brings a document (no random draw: the rest of the traffic stays the same)
      ...(s.turn % 5 === 0
        ? {
            assets: [
              {
                asset_id: `${s.session}-doc-${s.turn}`,
                kind: "document",
                uri: `s3://turnvault-synthetic/${s.session}/${s.turn}.pdf`,
                mime_type: "application/pdf",
                size_bytes: 1024 * s.turn,
                sha256: createHash("sha256").update(`${s.session}/${s.turn}`).digest("hex"),
                ...(s.turn % 10 === 0 ? { derived_from_tool: "crm.export" } : {})
              }
            ]
          }
        : {})
    }
  }

  /** The next line of traffic (key = session id). */
  const next = (): TrafficLine => {
    clock += 7
    if (last !== null && random() < options.duplicateShare) {
      const dup = last
      last = null
      return dup
    }
    if (random() < options.malformedShare)
      return { key: "sess-malformed", value: '{"schema_version":1,"event_type":' }
    const index = Math.floor(random() * open.length)
    const s = open[index]!
    let body: object
    if (s.turn >= options.turnsPerSession) {
      body =
        random() < 0.5
          ? { ...common(s, "case.closed") }
          : { ...common(s, "session.ended"), reason: pick(["ENDED", "ABANDONED"]) }
      open[index] = openSession()
    } else {
      body = turn(s)
    }
    last = {
      key: s.session,
      value: JSON.stringify(body),
      partitionKey: customerMessageKey(s.tenant, s.customer)
    }
    return last
  }

  return { next, tenants, agents: AGENTS }
}
