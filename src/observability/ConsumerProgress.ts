/**
 * What readiness needs to know about consumption: connected, which partitions are assigned, and
 * per partition (`topic/partition`, see `partitionKey`) when its committed offset last advanced
 * and how far behind it is. An instance
 * that is connected but whose lagging partitions stopped committing is not making progress.
 */
export interface PartitionProgress {
  readonly offset: number
  readonly lag: number
  readonly advancedAt: number
}

/** How a topic's partition is named in progress reports. */
export const partitionKey = (topic: string, partition: number) => `${topic}/${partition}`

export const makeConsumerProgress = (now: () => number = Date.now) => {
  let isConnected = false
  // When the source's consumer last stopped without a new one running yet; null while one runs
  // (or before the first has started).
  let stoppedAt: number | null = null
  let assignment = new Set<string>()
  const partitions = new Map<string, PartitionProgress>()
  return {
    connected: (value: boolean) => {
      isConnected = value
    },
    /** The source started a consumer (true) or its consumer stopped (false). */
    running: (value: boolean) => {
      stoppedAt = value ? null : (stoppedAt ?? now())
    },
    /**
     * Liveness: false once the consumer has been stopped for longer than `graceMs` (the source
     * recreates a stopped consumer with a backoff of at most 30 s, so a consumer still stopped after
     * that is either kept out by an outage or wedged; a restarted process waits for its broker the
     * same way, so a restart costs nothing and ends a wedge).
     */
    alive: (graceMs: number) =>
      stoppedAt === null || now() - stoppedAt <= graceMs
        ? { ok: true, detail: "ok" }
        : { ok: false, detail: `no consumer running for over ${graceMs} ms` },
    assigned: (value: ReadonlySet<string>) => {
      assignment = new Set(value)
    },
    committed: (partition: string, offset: number, lag: number) => {
      const previous = partitions.get(partition)
      const advancedAt = previous === undefined || offset > previous.offset ? now() : previous.advancedAt
      partitions.set(partition, { offset, lag, advancedAt })
    },
    /** Reports lag seen outside a commit (e.g. from the broker's end offsets). */
    lagged: (partition: string, lag: number) => {
      const previous = partitions.get(partition)
      // Lag that appears after an idle spell starts the stall clock now, not at the last commit.
      const wasIdle = previous === undefined || previous.lag === 0
      partitions.set(partition, {
        offset: previous?.offset ?? -1,
        lag,
        advancedAt: wasIdle ? now() : previous.advancedAt
      })
    },
    /** Ready when connected and no assigned partition with lag has been stuck longer than `stallMs`. */
    check: (stallMs: number) => {
      if (!isConnected) return { ok: false, detail: "not connected to Kafka" }
      const stuck: Array<string> = []
      for (const partition of assignment) {
        const p = partitions.get(partition)
        if (p !== undefined && p.lag > 0 && now() - p.advancedAt > stallMs) stuck.push(partition)
      }
      return stuck.length === 0
        ? { ok: true, detail: `${assignment.size} partitions assigned` }
        : { ok: false, detail: `no progress on partitions ${stuck.join(",")} for over ${stallMs} ms` }
    }
  }
}

export type ConsumerProgress = ReturnType<typeof makeConsumerProgress>
