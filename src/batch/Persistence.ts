/**
 * Persists a batch of turns (DESIGN 4): session state, customer-data changes and turn records are
 * three independent operations composed concurrently, each with its own typed error. One failing
 * operation does not stop the others; each is retried with bounded backoff. With an atomic unit of
 * work (one PostgreSQL transaction) a failure rolls the unit back and the whole unit is retried.
 * The caller acknowledges the batch only after `persist` succeeds.
 */
import { Clock, Context, Data, type Duration, Effect, Either, Layer, Schedule } from "effect"
import type { TurnRecord } from "../../schemas"
import type { ProfileAsset, SessionHistoryEntry, SessionRecord } from "../domain/model"
import { AuditStore, type AuditStoreError } from "../ports/AuditStore"
import { type ProfileOp, ProfileStore, type ProfileStoreError } from "../ports/ProfileStore"

export type { ProfileOp }
import { SessionStore, type SessionStoreError } from "../ports/SessionStore"
import { UnitOfWork, type UnitOfWorkError } from "../ports/UnitOfWork"
import {
  type OwnershipStoreError,
  type PartitionClaim,
  type PartitionFenced,
  PartitionOwnership
} from "../ports/PartitionOwnership"
import { Metrics } from "../observability/Metrics"
import {
  type ParkedEvent,
  QuarantineStore,
  type QuarantineStoreError,
  type Resolution
} from "../ports/QuarantineStore"
import { permanentRefusal } from "./storeRefusal"

export interface BatchWrites {
  /** The latest record of each session touched by the batch. */
  readonly sessions: ReadonlyArray<SessionRecord>
  /** Profile operations in event order. */
  readonly profile: ReadonlyArray<ProfileOp>
  /** Assets the batch's turns brought (insert-only: an asset id stored before is skipped). */
  readonly assets: ReadonlyArray<ProfileAsset>
  readonly records: ReadonlyArray<TurnRecord>
  readonly history: ReadonlyArray<SessionHistoryEntry>
  /** Events set aside (quarantine), and operators' releases and drops carried out. */
  readonly parked: ReadonlyArray<ParkedEvent>
  readonly resolutions: ReadonlyArray<Resolution>
}

export const noWrites: BatchWrites = {
  sessions: [],
  profile: [],
  assets: [],
  records: [],
  history: [],
  parked: [],
  resolutions: []
}

export type Operation =
  | "watermark"
  | "session"
  | "customer_data"
  | "turn_record"
  | "quarantine"
  | "transaction"

/** The partition's durable offset after the batch, under the claim that fences a stale owner. */
export interface Watermark {
  readonly claim: PartitionClaim
  readonly offset: string
}

/** The store error behind one failed operation. */
export type OperationError =
  | SessionStoreError
  | ProfileStoreError
  | AuditStoreError
  | UnitOfWorkError
  | OwnershipStoreError
  | QuarantineStoreError

/** Every operation that still failed after its retries, by operation. */
export class PersistenceError extends Data.TaggedError("PersistenceError")<{
  readonly failures: ReadonlyArray<{ readonly operation: Operation; readonly cause: OperationError }>
}> {
  override get message() {
    return `persistence failed: ${this.failures.map((f) => f.operation).join(", ")}`
  }
}

export interface PersistenceConfig {
  /** Run the three operations one after another instead of concurrently (for comparison). */
  readonly sequential: boolean
  readonly retryBaseDelay: Duration.DurationInput
  readonly retryMaxDelay: Duration.DurationInput
  /** Attempts per operation (or per unit when atomic) before `persist` fails. */
  readonly maxAttempts: number
}

const emptyBatch = (writes: BatchWrites) =>
  writes.sessions.length === 0 &&
  writes.profile.length === 0 &&
  writes.assets.length === 0 &&
  writes.records.length === 0 &&
  writes.history.length === 0 &&
  writes.parked.length === 0 &&
  writes.resolutions.length === 0

export const makePersistence = (config: PersistenceConfig) =>
  Effect.gen(function* () {
    const sessions = yield* SessionStore
    const profiles = yield* ProfileStore
    const audit = yield* AuditStore
    const uow = yield* UnitOfWork
    const ownership = yield* PartitionOwnership
    const quarantine = yield* QuarantineStore
    const metrics = yield* Metrics

    const retry = Schedule.exponential(config.retryBaseDelay).pipe(
      Schedule.either(Schedule.spaced(config.retryMaxDelay)),
      Schedule.intersect(Schedule.recurs(Math.max(0, config.maxAttempts - 1)))
    )

    /** Times and counts one operation; in non-atomic mode it retries on its own. */
    const measured = <A, E>(operation: Operation, effect: Effect.Effect<A, E>, elapsed: Array<number>) =>
      Effect.gen(function* () {
        const start = yield* Clock.currentTimeNanos
        const result = yield* Effect.either(effect)
        const took = Number((yield* Clock.currentTimeNanos) - start) / 1e9
        elapsed.push(took)
        metrics.persistenceDuration.observe({ operation }, took)
        metrics.persistenceOperations.inc({
          operation,
          status: Either.isRight(result) ? "success" : "failure"
        })
        return yield* result
      }).pipe(
        uow.atomic ? (e) => e : Effect.retry({ schedule: retry, while: (e) => permanentRefusal(e) === null })
      )

    const attempt = (writes: BatchWrites, watermark: Watermark | null) =>
      Effect.gen(function* () {
        // First in the unit: a fenced owner writes nothing, and holds the partition's row meanwhile.
        if (watermark !== null) {
          yield* ownership
            .advance(watermark.claim, watermark.offset)
            .pipe(
              Effect.catchTag("OwnershipStoreError", (cause) =>
                Effect.fail(new PersistenceError({ failures: [{ operation: "watermark", cause }] }))
              )
            )
        }
        const elapsed: Array<number> = []
        const start = yield* Clock.currentTimeNanos
        const quarantined =
          writes.parked.length === 0 && writes.resolutions.length === 0
            ? Effect.void
            : quarantine.park(writes.parked).pipe(Effect.zipRight(quarantine.resolve(writes.resolutions)))
        const [session, customerData, turnRecord, parked] = yield* Effect.all(
          [
            measured("session", sessions.save(writes.sessions), elapsed),
            measured(
              "customer_data",
              writes.assets.length === 0
                ? profiles.applyOps(writes.profile)
                : Effect.zipRight(profiles.applyOps(writes.profile), profiles.writeAssets(writes.assets)),
              elapsed
            ),
            measured("turn_record", audit.append(writes.records, writes.history), elapsed),
            measured("quarantine", quarantined, elapsed)
          ],
          { concurrency: config.sequential ? 1 : 4, mode: "either" }
        )
        const wall = Number((yield* Clock.currentTimeNanos) - start) / 1e9
        metrics.persistenceUnitDuration.observe(
          { mode: config.sequential ? "sequential" : "concurrent" },
          wall
        )
        const saved = elapsed.reduce((a, b) => a + b, 0) - wall
        if (saved > 0) metrics.persistenceTimeSaved.inc(saved)
        const failures: Array<{ operation: Operation; cause: OperationError }> = []
        if (Either.isLeft(session)) failures.push({ operation: "session", cause: session.left })
        if (Either.isLeft(customerData))
          failures.push({ operation: "customer_data", cause: customerData.left })
        if (Either.isLeft(turnRecord)) failures.push({ operation: "turn_record", cause: turnRecord.left })
        if (Either.isLeft(parked)) failures.push({ operation: "quarantine", cause: parked.left })
        if (failures.length > 0) return yield* new PersistenceError({ failures })
      })

    /** `watermark`: when the partition is shared by several instances (Kafka), the fence to pass. */
    const persist = (
      writes: BatchWrites,
      watermark: Watermark | null = null
    ): Effect.Effect<void, PersistenceError | PartitionFenced> => {
      if (emptyBatch(writes)) return Effect.void
      const unit = uow
        .run(attempt(writes, watermark))
        .pipe(
          Effect.catchTag("UnitOfWorkError", (cause) =>
            Effect.fail(new PersistenceError({ failures: [{ operation: "transaction", cause }] }))
          )
        )
      const retried = uow.atomic
        ? // a statement refused for good fails the same way again: the stream decides what follows
          Effect.retry(unit, {
            schedule: retry,
            while: (e) => e._tag === "PersistenceError" && permanentRefusal(e) === null
          })
        : unit
      return retried.pipe(Effect.withSpan("Persistence.persist"))
    }

    return { persist }
  })

export class Persistence extends Context.Tag("turnvault/Persistence")<
  Persistence,
  Effect.Effect.Success<ReturnType<typeof makePersistence>>
>() {
  static readonly layer = (config: PersistenceConfig) => Layer.effect(Persistence, makePersistence(config))
}
