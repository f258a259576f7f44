/** Turns the effects of one applied event into metrics (bounded labels only). */
import type { EventEffects } from "../actors/SessionActor"
import type { MetricsService } from "../telemetry/Metrics"

export const recordEffects = (metrics: MetricsService, effects: EventEffects) => {
  const record = effects.record
  if (record !== null) {
    metrics.turns.inc({ resolution: record.outcome.resolution })
    for (const entry of record.outcome.categories) metrics.outcomeCategories.inc({ category: entry.category })
  }
  if (effects.history !== null && effects.session !== null && effects.history.reason === "turn") {
    // gaps are counted in the state; the counter follows the state's increments
  }
  const data = effects.customerData
  if (data === null) return
  for (const update of data.updates) {
    metrics.customerDataUpdates.inc({ scope: update.scope ?? "NONE", status: update.status })
  }
  for (const row of data.profileWrites) metrics.markedForPersistence.inc({ scope: row.scope })
  for (const error of data.validationErrors) metrics.validationErrors.inc({ type: error.type })
}
