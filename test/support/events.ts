/** Builders of wire events for tests: small, explicit, overridable. */
let counter = 0

export interface TurnOptions {
  readonly tenant?: string
  readonly agent?: string
  readonly session?: string
  readonly customer?: string
  readonly turn: number
  readonly turnId?: string
  readonly at?: string
  readonly caseId?: string
  readonly vars?: Record<string, unknown>
  readonly extra?: Record<string, unknown>
}

const base = (o: {
  tenant?: string
  agent?: string
  session?: string
  customer?: string
  at?: string
  caseId?: string
}) => ({
  schema_version: 1,
  event_id: `evt-${++counter}`,
  tenant_id: o.tenant ?? "t1",
  agent_id: o.agent ?? "a1",
  session_id: o.session ?? "s1",
  customer_id: o.customer ?? "c1",
  occurred_at: o.at ?? new Date(Date.UTC(2026, 0, 1) + counter * 1000).toISOString(),
  ...(o.caseId === undefined ? {} : { case_id: o.caseId })
})

export const turn = (o: TurnOptions) => ({
  ...base(o),
  event_type: "turn.completed",
  turn_id: o.turnId ?? `${o.tenant ?? "t1"}-${o.session ?? "s1"}-${o.turn}`,
  turn_number: o.turn,
  user_message: "hello",
  agent_response: "hi",
  candidate_variables: Object.fromEntries(Object.entries(o.vars ?? {}).map(([k, v]) => [k, { value: v }])),
  matched_rules: [{ rule_id: "r1" }],
  scenario: null,
  tool_executions: [],
  enforcement: null,
  ...o.extra
})

export const ended = (o: {
  tenant?: string
  session?: string
  customer?: string
  reason?: "ENDED" | "ABANDONED"
  at?: string
}) => ({
  ...base(o),
  event_type: "session.ended",
  reason: o.reason ?? "ENDED"
})

export const caseClosed = (o: {
  tenant?: string
  session?: string
  customer?: string
  caseId: string
  at?: string
}) => ({
  ...base(o),
  event_type: "case.closed"
})

export const def = (name: string, value_type: string, scope: string, more: Record<string, unknown> = {}) => ({
  tenant_id: "t1",
  agent_id: "a1",
  name,
  value_type,
  scope,
  ...more
})
