/**
 * CheckpointStore and AuditStore.chainHeads contract: where each session's chains end, which
 * sessions were written since an instant, and checkpoints stored once per seq, unchanged.
 */
import { expect } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { buildCheckpoint, signerOf, newKeyPair } from "../../src/domain/checkpoint"
import { AuditStore } from "../../src/ports/AuditStore"
import { CheckpointStore } from "../../src/ports/CheckpointStore"
import { historyEntry, turnRecord } from "./fixtures"
import type { StoreIt } from "./stores.contract"

/** Real time passes (for a database's clock) and the test clock moves on (for the memory store's). */
const later = Effect.zipRight(
  Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 30))),
  TestClock.adjust("1 second")
)

export const checkpointCases = (it: StoreIt, tenant: (label: string) => string) => {
  it.effect("chain heads: each session's record count and last hash, entry count and last entry_hash", () =>
    Effect.gen(function* () {
      const audit = yield* AuditStore
      const t = tenant("heads")
      yield* audit.append(
        [
          turnRecord(t, "s1", 2, { hash: "h-2" }),
          turnRecord(t, "s1", 1, { hash: "h-1" }),
          turnRecord(t, "s2", 1)
        ],
        [historyEntry(t, "s1", 1), historyEntry(t, "s1", 2, { entry_hash: "e-2" }), historyEntry(t, "s3", 1)]
      )
      const { heads } = yield* audit.chainHeads(null)
      const mine = heads
        .filter((h) => h.tenant_id === t)
        .sort((a, b) => a.session_id.localeCompare(b.session_id))
      expect(mine).toEqual([
        { tenant_id: t, session_id: "s1", records: 2, record_head: "h-2", entries: 2, entry_head: "e-2" },
        { tenant_id: t, session_id: "s2", records: 1, record_head: "hash-1", entries: 0, entry_head: null },
        { tenant_id: t, session_id: "s3", records: 0, record_head: null, entries: 1, entry_head: "e1" }
      ])
    })
  )

  it.effect(
    "chain heads since an instant: only sessions written at or after it, with their whole chains",
    () =>
      Effect.gen(function* () {
        const audit = yield* AuditStore
        const t = tenant("heads-since")
        yield* audit.append([turnRecord(t, "quiet", 1), turnRecord(t, "busy", 1)], [])
        yield* later
        const { cut } = yield* audit.chainHeads(null)
        yield* later
        yield* audit.append([turnRecord(t, "busy", 2, { hash: "busy-2" })], [historyEntry(t, "busy", 1)])
        const { heads, cut: next } = yield* audit.chainHeads(cut)
        expect(heads.filter((h) => h.tenant_id === t)).toEqual([
          {
            tenant_id: t,
            session_id: "busy",
            records: 2,
            record_head: "busy-2",
            entries: 1,
            entry_head: "e1"
          }
        ])
        expect(next.getTime()).toBeGreaterThan(cut.getTime())
      })
  )

  it.effect("checkpoints: stored once per seq, unchanged, listed by seq; latest is the newest", () =>
    Effect.gen(function* () {
      const store = yield* CheckpointStore
      const signer = signerOf(newKeyPair().private_key)
      const head = (session: string, n: number) => ({
        tenant_id: tenant("cp"),
        session_id: session,
        records: n,
        record_head: "a".repeat(64),
        entries: n,
        entry_head: null
      })
      const before = yield* store.latest()
      const at = "2026-12-07T10:00:00.000Z"
      const first = buildCheckpoint(
        { previous: before, since: null, cut: at, createdAt: at, heads: [head("s1", 2), head("s2", 1)] },
        signer
      )
      const second = buildCheckpoint(
        { previous: first, since: at, cut: at, createdAt: at, heads: [head("s1", 3)] },
        signer
      )
      expect(yield* store.append(first)).toBe(true)
      expect(yield* store.append(second)).toBe(true)
      // another instance's checkpoint of the same seq loses
      expect(yield* store.append({ ...second, heads: [] })).toBe(false)
      expect(yield* store.latest()).toEqual(second)
      const list = yield* store.list()
      expect(list.slice(-2)).toEqual([first, second])
      expect(list.map((c) => c.body.seq)).toEqual(list.map((_, i) => i + 1))
    })
  )
}
