/** The turn outcome (DESIGN 3.4): categories and resolution, from the turn's phase decisions. */
import type { CategoryEntry, TurnCompleted, TurnOutcome } from "../../schemas"

export const computeOutcome = (turn: TurnCompleted): TurnOutcome => {
  const categories: Array<CategoryEntry> = []
  if (turn.matched_rules.length === 0) categories.push({ category: "MATCHED_ZERO_RULES", source: "PIPELINE" })
  const awaiting = turn.scenario?.awaiting_user_input === true
  if (awaiting) {
    const scenarioId = turn.scenario?.active_scenario_id
    const stepId = turn.scenario?.current_step_id
    categories.push({
      category: "AWAITING_USER_INPUT",
      source: "PIPELINE",
      ...(scenarioId == null ? {} : { scenario_id: scenarioId }),
      ...(stepId == null ? {} : { step_id: stepId })
    })
  }
  const failed = turn.tool_executions.filter((tool) => !tool.success)
  if (failed.length > 0)
    categories.push({
      category: "SYSTEM_ERROR",
      source: "PIPELINE",
      // the ids only: the errors are in the record's tool_executions
      details: `tool execution failed: ${failed.map((tool) => tool.tool_id).join(", ")}`
    })
  const violations = turn.enforcement?.violations ?? []
  if (violations.length > 0)
    categories.push({
      category: "POLICY_RESTRICTION",
      source: "PIPELINE",
      // the count only: the violations are the record's policy_violations
      details: `${violations.length} violation${violations.length === 1 ? "" : "s"}`
    })
  const resolution = turn.enforcement?.blocked === true ? "UNRESOLVED" : awaiting ? "PARTIAL" : "RESOLVED"
  return { resolution, categories }
}
