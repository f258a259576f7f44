/**
 * The checkpoint job (decision 0018), in simulated time: the first checkpoint covers every chain,
 * each next one only the chains written since (less the heads it already vouches for), a quiet
 * tick writes nothing, and on the schedule one instance writes each tick's checkpoint.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Ref, TestClock } from "effect"
import { MemoryStoresLive } from "../../src/adapters/embedded"
import {
  type AuditCheckpoint,
  type ChainHead,
  checkCheckpoints,
  type Head,
  isReceiptsHead,
  newKeyPair,
  signerOf
} from "../../src/domain/checkpoint"
import { checkpointJob, writeCheckpoint } from "../../src/jobs/Checkpointer"
import { runSchedules } from "../../src/jobs/JobScheduler"
import { Metrics } from "../../src/observability/Metrics"
import { AuditStore } from "../../src/ports/AuditStore"
import { CheckpointStore } from "../../src/ports/CheckpointStore"
import { ItemChanges } from "../../src/ports/ItemChanges"
import { ActorRegistry, makeActorRegistry } from "../../src/sessions/ActorRegistry"
import { recordHash } from "../../src/domain/turnRecord"
import { turnRecord } from "../contract/fixtures"

const sessionHeads = (heads: ReadonlyArray<Head>) => heads.filter((h): h is ChainHead => !isReceiptsHead(h))
const signer = signerOf(newKeyPair().private_key)
const stores = Layer.mergeAll(MemoryStoresLive, Metrics.layerTest, ItemChanges.local)
const MINUTE = 60_000

const published = Effect.gen(function* () {
  const sent = yield* Ref.make<Array<AuditCheckpoint>>([])
  const publish = (checkpoints: ReadonlyArray<AuditCheckpoint>) =>
    Ref.update(sent, (list) => [...list, ...checkpoints])
  return { sent, publish }
})

/** Appends turn `turn` of each session, hashed as the pipeline hashes (unchained: not checked here). */
const write = (sessions: ReadonlyArray<string>, turn: number) =>
  Effect.flatMap(AuditStore, (audit) =>
    audit.append(
      sessions.map((s) => {
        const body = turnRecord("t1", s, turn, { turn_id: `${s}-${turn}` })
        return { ...body, hash: recordHash(body) }
      }),
      []
    )
  )

describe("checkpoint job", () => {
  it.effect("covers every chain first, then what moved since; a quiet run writes none", () =>
    Effect.gen(function* () {
      const { sent, publish } = yield* published
      yield* write(["a", "b"], 1)
      const first = (yield* writeCheckpoint(signer, publish))!
      expect(sessionHeads(first.heads).map((h) => [h.session_id, h.records])).toEqual([
        ["a", 1],
        ["b", 1]
      ])
      yield* TestClock.adjust(10 * MINUTE)
      expect(yield* writeCheckpoint(signer, publish)).toBeNull()
      yield* write(["b", "c"], 2)
      const second = (yield* writeCheckpoint(signer, publish))!
      expect(second.body.seq).toBe(2)
      expect(sessionHeads(second.heads).map((h) => [h.session_id, h.records])).toEqual([
        ["b", 2],
        ["c", 1]
      ])
      // published: the first, then the first again (in case its publish failed) with the second
      expect((yield* Ref.get(sent)).map((c) => c.body.seq)).toEqual([1, 1, 2])
      const audit = yield* AuditStore
      const records = yield* audit.listRecords({})
      const verdict = checkCheckpoints({
        stored: yield* Effect.flatMap(CheckpointStore, (s) => s.list()),
        witnessed: yield* Ref.get(sent),
        publicKey: signer.publicKey,
        chainsOf: (_t, session) => ({ records: records.filter((r) => r.session_id === session), entries: [] })
      })
      expect(verdict).toEqual({ problems: [], unwitnessed: [] })
    }).pipe(Effect.provide(stores))
  )

  it.effect("a publish that fails leaves the checkpoint stored; the next run publishes it again", () =>
    Effect.gen(function* () {
      const { sent, publish } = yield* published
      yield* write(["a"], 1)
      const failed = yield* Effect.either(writeCheckpoint(signer, () => Effect.fail("broker down")))
      expect(failed._tag).toBe("Left")
      expect((yield* Effect.flatMap(CheckpointStore, (s) => s.list())).length).toBe(1)
      yield* write(["a"], 2)
      yield* writeCheckpoint(signer, publish)
      expect((yield* Ref.get(sent)).map((c) => c.body.seq)).toEqual([1, 2])
    }).pipe(Effect.provide(stores))
  )

  it.scoped("on the schedule, two instances write one checkpoint per tick between them", () =>
    Effect.gen(function* () {
      const registry = yield* makeActorRegistry({
        idleTimeoutMs: MINUTE,
        maxActors: 10,
        definitionsTtlMs: MINUTE,
        maxHistory: 10
      })
      const { sent, publish } = yield* published
      const job = { job: "checkpoint", intervalMs: MINUTE, work: checkpointJob(signer, publish) }
      for (const instance of ["a", "b"])
        yield* Effect.forkScoped(
          runSchedules({ instance, intervalsMs: { expire: 60 * MINUTE, orphans: 60 * MINUTE } }, [job]).pipe(
            Effect.provideService(ActorRegistry, registry)
          )
        )
      for (let tick = 1; tick <= 3; tick++) {
        yield* write(["a"], tick)
        yield* TestClock.adjust(MINUTE)
        yield* Effect.sleep(0)
      }
      const list = yield* Effect.flatMap(CheckpointStore, (s) => s.list())
      expect(list.map((c) => sessionHeads(c.heads)[0]!.records)).toEqual([1, 2, 3])
      expect(new Set((yield* Ref.get(sent)).map((c) => c.body.seq))).toEqual(new Set([1, 2, 3]))
    }).pipe(Effect.provide(stores))
  )
})
