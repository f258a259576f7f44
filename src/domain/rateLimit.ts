/**
 * A token bucket (per API key): `burst` requests at once, refilled at `perSecond`. Pure: the
 * caller keeps the buckets and passes the time, so it is tested with a simulated clock.
 */
export interface Bucket {
  readonly tokens: number
  /** When `tokens` was counted (epoch ms). */
  readonly at: number
}

export interface RateLimit {
  readonly perSecond: number
  readonly burst: number
}

export type Taken =
  | { readonly allowed: true; readonly bucket: Bucket }
  | { readonly allowed: false; readonly bucket: Bucket; readonly retryAfterSeconds: number }

/** Takes one token from `bucket` (a full one when undefined) at `now`. */
export const takeToken = (bucket: Bucket | undefined, now: number, limit: RateLimit): Taken => {
  const elapsed = bucket === undefined ? 0 : Math.max(0, now - bucket.at) / 1000
  const tokens = Math.min(limit.burst, (bucket?.tokens ?? limit.burst) + elapsed * limit.perSecond)
  if (tokens >= 1) return { allowed: true, bucket: { tokens: tokens - 1, at: now } }
  return {
    allowed: false,
    bucket: { tokens, at: now },
    retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / limit.perSecond))
  }
}
