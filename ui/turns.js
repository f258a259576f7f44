/** A turn record as the page shows it: outcome, customer-data updates and phase decisions. */
import { el, instant, items } from "./dom.js"

const updatesView = (updates) => {
  if (updates.length === 0) return "none"
  const head = el(
    "tr",
    {},
    ...["field", "status", "scope", "change", "validation"].map((h) => el("th", {}, h))
  )
  const rows = updates.map((u) =>
    el(
      "tr",
      {},
      el("td", {}, u.field_name),
      el("td", { class: u.status === "rejected" ? "failed" : "" }, u.status),
      el("td", {}, u.scope ?? ""),
      el("td", {}, u.is_update === undefined ? "" : u.is_update ? "changed" : "new"),
      el("td", {}, u.validation_error ?? "")
    )
  )
  return el("table", { class: "updates" }, el("thead", {}, head), el("tbody", {}, ...rows))
}

/** Matched rules with their scores; older records kept only the ids. */
const rulesText = (turn) =>
  (turn.matched_rules ?? turn.matched_rule_ids.map((rule_id) => ({ rule_id }))).map((rule) =>
    rule.score === undefined ? rule.rule_id : `${rule.rule_id} (score ${rule.score})`
  )

const scenarioText = (scenario) => {
  if (scenario === undefined) return ["not recorded"]
  if (scenario === null) return ["none"]
  const lines = [
    `${scenario.active_scenario_id ?? "no scenario"} / step ${scenario.current_step_id ?? "-"}${
      scenario.awaiting_user_input ? " · awaiting user input" : ""
    }`
  ]
  for (const [id, decision] of Object.entries(scenario.lifecycle_decisions ?? {}))
    lines.push(`${id}: ${decision}`)
  for (const [id, step] of Object.entries(scenario.step_transitions ?? {})) {
    lines.push(
      `${id}: ${step.from_step ?? "start"} → ${step.to_step}${step.reason ? ` (${step.reason})` : ""}`
    )
  }
  return lines
}

const toolsText = (turn) => {
  if (turn.tool_executions === undefined) return [`${turn.tool_failures} failed (details not recorded)`]
  return turn.tool_executions.map(
    (tool) =>
      `${tool.tool_id}: ${tool.success ? "ok" : "failed"}${tool.error ? ` (${tool.error})` : ""}${
        tool.duration_ms === undefined ? "" : ` · ${tool.duration_ms} ms`
      }`
  )
}

const enforcementText = (turn) => {
  const violations =
    turn.policy_violations.length === 0 ? "no violations" : `violations: ${turn.policy_violations.join(", ")}`
  if (!turn.enforcement) return [violations]
  const { blocked, regeneration_attempts } = turn.enforcement
  return [
    `${blocked ? "blocked" : "not blocked"} · ${regeneration_attempts} regeneration attempts · ${violations}`
  ]
}

const categoriesText = (outcome) =>
  outcome.categories.map((c) => {
    const where = c.scenario_id ? ` (${c.scenario_id}${c.step_id ? ` / ${c.step_id}` : ""})` : ""
    return `${c.category}${where}${c.details ? `: ${c.details}` : ""}`
  })

export const turnView = (turn) => {
  const row = (label, value) => [el("dt", {}, label), el("dd", {}, value)]
  return el(
    "li",
    { class: "turn", "data-turn": String(turn.turn_number) },
    el(
      "h3",
      {},
      `Turn ${turn.turn_number} · ${instant(turn.occurred_at)} · `,
      el("span", { class: `resolution ${turn.outcome.resolution}` }, turn.outcome.resolution)
    ),
    el(
      "dl",
      {},
      ...row("Turn id", turn.turn_id),
      ...(turn.canonical_intent ? row("Intent", turn.canonical_intent) : []),
      ...row("Outcome categories", items(categoriesText(turn.outcome))),
      ...row("Customer-data updates", updatesView(turn.customer_data_updates)),
      ...row("Matched rules", items(rulesText(turn))),
      ...row("Scenario", items(scenarioText(turn.scenario))),
      ...row("Tools", items(toolsText(turn))),
      ...row("Enforcement", items(enforcementText(turn))),
      ...(turn.missing_fields?.length
        ? row(
            "Missing fields",
            items(turn.missing_fields.map((m) => `${m.field_name} (${m.fallback_action})`))
          )
        : [])
    )
  )
}
