/** The stream's one pause policy (streams/PausePolicy.ts), on the test clock. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Ref, TestClock } from "effect"
import { makePausePolicy } from "../../streams/PausePolicy"

const pause = makePausePolicy({ pauseDelay: "1 second" })

/** Fails with "down" until `failures` attempts have been made, then succeeds with the attempt count. */
const flaky = (attempts: Ref.Ref<number>, failures: number) =>
  Effect.flatMap(
    Ref.updateAndGet(attempts, (n) => n + 1),
    (n) => (n <= failures ? Effect.fail("down" as const) : Effect.succeed(n))
  )

describe("PausePolicy", () => {
  it.effect("retries a failing step once per pause until it succeeds", () =>
    Effect.gen(function* () {
      const attempts = yield* Ref.make(0)
      const fiber = yield* Effect.fork(flaky(attempts, 2).pipe(pause.untilDone("down")))
      yield* TestClock.adjust("0 millis")
      expect(yield* Ref.get(attempts)).toBe(1)
      yield* TestClock.adjust("999 millis")
      expect(yield* Ref.get(attempts)).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(yield* Ref.get(attempts)).toBe(2)
      expect(yield* Fiber.poll(fiber)).toEqual(Option.none())
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe(3)
    })
  )

  it.effect("fails at once on an error it is not asked to wait out", () =>
    Effect.gen(function* () {
      const attempts = yield* Ref.make(0)
      const exit = yield* flaky(attempts, 5).pipe(
        pause.whileFailing((e) => e !== "down", "down"),
        Effect.exit
      )
      expect(exit).toEqual(Exit.fail("down"))
      expect(yield* Ref.get(attempts)).toBe(1)
    })
  )

  it.effect("a pause can be interrupted inside an uninterruptible batch", () =>
    Effect.gen(function* () {
      const attempts = yield* Ref.make(0)
      const fiber = yield* Effect.fork(
        Effect.uninterruptible(flaky(attempts, 1000).pipe(pause.untilDone("down")))
      )
      yield* TestClock.adjust("3 seconds")
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(yield* Ref.get(attempts)).toBe(4)
    })
  )
})
