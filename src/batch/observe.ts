/** Turns the effects of one applied event into metrics (bounded labels only). */
import { isConfirmation } from "../domain/model"
import type { EventEffects } from "../sessions/SessionActor"
import type { MetricsService } from "../observability/Metrics"

/** `gapsBefore`: the session's gap count before the event (a turn that skipped numbers adds one). */
export const recordEffects = (metrics: MetricsService, effects: EventEffects, gapsBefore: number) => {
  const record = effects.record
  if (record !== null) {
    metrics.turns.inc({ resolution: record.outcome.resolution })
    for (const entry of record.outcome.categories) metrics.outcomeCategories.inc({ category: entry.category })
  }
  if (effects.session !== null && effects.session.state.gaps > gapsBefore) metrics.turnGaps.inc()
  const data = effects.customerData
  if (data === null) return
  for (const update of data.updates) {
    metrics.customerDataUpdates.inc({
      scope: update.scope ?? "NONE",
      status: update.status,
      is_update: update.is_update === undefined ? "none" : update.is_update ? "true" : "false"
    })
  }
  for (const write of data.profileWrites)
    if (!isConfirmation(write)) metrics.markedForPersistence.inc({ scope: write.scope })
  for (const error of data.validationErrors)
    metrics.validationErrors.inc({ type: error.type, value_type: error.value_type })
}
