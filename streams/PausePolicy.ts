/**
 * The one pause policy of the stream: a step that fails on an unavailable store or log is retried
 * after `pauseDelay`, for as long as it takes, so its partition pauses (backpressure) instead of
 * dropping or spinning. Each failed attempt logs a warning naming the step. The wait is the only
 * interruptible part of a batch: shutdown may cut a pause short, never a healthy write.
 */
import { type Duration, Effect, Schedule } from "effect"

export interface PausePolicyConfig {
  /** Delay between attempts while a dependency is unavailable. */
  readonly pauseDelay: Duration.DurationInput
}

export const makePausePolicy = (config: PausePolicyConfig) => {
  const schedule = Schedule.spaced(config.pauseDelay)
  /**
   * Runs `effect`; while it fails with an error `retryable` accepts, logs a warning and retries
   * it after the pause, for as long as it takes. Other errors fail at once. The first attempt
   * keeps the caller's interruptibility; the pauses and retries are interruptible. `annotations`
   * name the batch in the warning.
   */
  const whileFailing =
    <E>(retryable: (error: E) => boolean, message: string, annotations: Record<string, unknown> = {}) =>
    <A, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
      const warn = (error: E) =>
        retryable(error)
          ? Effect.logWarning(message, error).pipe(Effect.annotateLogs(annotations))
          : Effect.void
      return effect.pipe(
        Effect.catchAll((error) =>
          retryable(error)
            ? warn(error).pipe(
                Effect.zipRight(
                  effect.pipe(
                    Effect.tapError(warn),
                    Effect.retry({ schedule, while: retryable }),
                    Effect.delay(config.pauseDelay)
                  )
                ),
                Effect.interruptible
              )
            : Effect.fail(error)
        )
      )
    }

  /** `whileFailing` for every error: the step succeeds, however long it takes. */
  const untilDone =
    (message: string, annotations: Record<string, unknown> = {}) =>
    <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, never, R> =>
      effect.pipe(
        whileFailing<E>(() => true, message, annotations),
        Effect.orDie
      )

  return { whileFailing, untilDone }
}

export type PausePolicy = ReturnType<typeof makePausePolicy>
