/** The turn outcome (DESIGN 3.4): categories and resolution, from the turn's phase decisions. */
import type { CategoryEntry, TurnCompleted, TurnOutcome } from "../../schemas"

export const computeOutcome = (turn: TurnCompleted): TurnOutcome => {
  const categories: Array<CategoryEntry> = []
  if (turn.matched_rules.length === 0) categories.push({ category: "MATCHED_ZERO_RULES" })
  const awaiting = turn.scenario?.awaiting_user_input === true
  if (awaiting) {
    const scenarioId = turn.scenario?.active_scenario_id
    const stepId = turn.scenario?.current_step_id
    categories.push({
      category: "AWAITING_USER_INPUT",
      ...(scenarioId == null ? {} : { scenario_id: scenarioId }),
      ...(stepId == null ? {} : { step_id: stepId })
    })
  }
  if (turn.tool_executions.some((tool) => !tool.success)) categories.push({ category: "SYSTEM_ERROR" })
  if ((turn.enforcement?.violations.length ?? 0) > 0) categories.push({ category: "POLICY_RESTRICTION" })
  const resolution = turn.enforcement?.blocked === true ? "UNRESOLVED" : awaiting ? "PARTIAL" : "RESOLVED"
  return { resolution, categories }
}
