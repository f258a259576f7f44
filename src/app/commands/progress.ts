/** The one-line progress summary `start` prints: rates since the previous line and totals. */
import { Clock, Effect } from "effect"
import type { MetricsService } from "../../observability/Metrics"

const sumWhere = async (
  counter: { get(): Promise<{ values: ReadonlyArray<{ value: number; labels: Record<string, unknown> }> }> },
  predicate: (labels: Record<string, unknown>) => boolean = () => true
) => (await counter.get()).values.filter((v) => predicate(v.labels)).reduce((a, v) => a + v.value, 0)

let previous: { at: number; turns: number } = { at: Date.now(), turns: 0 }

export const progressLine = (metrics: MetricsService) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const line = yield* Effect.promise(async () => {
      const turns = await sumWhere(metrics.turns)
      const persisted = await sumWhere(metrics.customerDataUpdates, (l) => l.status === "persisted")
      const sessionOnly = await sumWhere(metrics.customerDataUpdates, (l) => l.status === "session_only")
      const rejected = await sumWhere(metrics.customerDataUpdates, (l) => l.status === "rejected")
      const resolved = await sumWhere(metrics.turns, (l) => l.resolution === "RESOLVED")
      const partial = await sumWhere(metrics.turns, (l) => l.resolution === "PARTIAL")
      const unresolved = await sumWhere(metrics.turns, (l) => l.resolution === "UNRESOLVED")
      const dlq = await sumWhere(metrics.dlqMessages)
      const actors = await sumWhere(metrics.activeActors)
      const rate = ((turns - previous.turns) * 1000) / Math.max(1, now - previous.at)
      previous = { at: now, turns }
      return (
        `turns/s=${rate.toFixed(0)} turns=${turns} sessions=${actors} ` +
        `updates persisted=${persisted} session_only=${sessionOnly} rejected=${rejected} ` +
        `outcomes resolved=${resolved} partial=${partial} unresolved=${unresolved} dlq=${dlq}`
      )
    })
    return line
  })
