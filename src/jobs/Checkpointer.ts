/**
 * Writes one signed audit checkpoint (DESIGN 8b, decision 0018): reads the heads of the chains
 * (sessions' turn records and ledgers, tenants' erasure receipts) written since the previous checkpoint (less an overlap, so a transaction that began before the
 * previous read but committed after it is not missed), drops those the previous checkpoint already
 * vouches for unchanged, signs the Merkle root over the rest, stores it and publishes it. `start`
 * runs it on a schedule (JobScheduler, one instance per tick); `turnvault checkpoints write` now.
 */
import { Clock, Effect } from "effect"
import {
  type AuditCheckpoint,
  buildCheckpoint,
  type CheckpointSigner,
  newHeads,
  type StoredCheckpoint
} from "../domain/checkpoint"
import { Metrics } from "../observability/Metrics"
import { AuditStore } from "../ports/AuditStore"
import { CheckpointStore } from "../ports/CheckpointStore"
import { CustomerKeys } from "../ports/CustomerKeys"

/**
 * How far before the previous checkpoint's read the next one looks again. A batch transaction
 * stamps its rows with its start time; one that ran longer than this across a checkpoint's read
 * would leave its sessions to their next write. Batches commit in well under a second.
 */
export const CHECKPOINT_OVERLAP_MS = 60_000

/**
 * One checkpoint now; null when nothing was written since the previous one, or when another
 * instance stored this seq first. `publish` gets the new checkpoint and the previous one again: a
 * publish that failed last time is made good (the topic is keyed by seq, so a repeat is harmless).
 */
export const writeCheckpoint = <E, R>(
  signer: CheckpointSigner,
  publish: (checkpoints: ReadonlyArray<AuditCheckpoint>) => Effect.Effect<void, E, R>
) =>
  Effect.gen(function* () {
    const store = yield* CheckpointStore
    const previous = yield* store.latest()
    const since = previous === null ? null : new Date(Date.parse(previous.body.cut) - CHECKPOINT_OVERLAP_MS)
    const { cut, heads } = yield* Effect.flatMap(AuditStore, (audit) => audit.chainHeads(since))
    const receipts = yield* Effect.flatMap(CustomerKeys, (keys) => keys.receiptHeads(since))
    const fresh = newHeads([...heads, ...receipts], previous)
    if (fresh.length === 0) return null
    const checkpoint = buildCheckpoint(
      {
        previous,
        since: since?.toISOString() ?? null,
        cut: cut.toISOString(),
        createdAt: new Date(yield* Clock.currentTimeMillis).toISOString(),
        heads: fresh
      },
      signer
    )
    if (!(yield* store.append(checkpoint))) return null
    const signed = (c: StoredCheckpoint): AuditCheckpoint => ({ body: c.body, signature: c.signature })
    yield* publish([...(previous === null ? [] : [signed(previous)]), signed(checkpoint)])
    return checkpoint
  })

/** writeCheckpoint in the job metrics (`job="checkpoint"`); answers the heads it covered. */
export const checkpointJob = <E, R>(
  signer: CheckpointSigner,
  publish: (checkpoints: ReadonlyArray<AuditCheckpoint>) => Effect.Effect<void, E, R>
) =>
  Effect.gen(function* () {
    const metrics = yield* Metrics
    const started = yield* Clock.currentTimeMillis
    const checkpoint = yield* writeCheckpoint(signer, publish).pipe(
      Effect.tapError(() => Effect.sync(() => metrics.jobRuns.inc({ job: "checkpoint", status: "failed" })))
    )
    const finished = yield* Clock.currentTimeMillis
    const leaves = checkpoint?.body.leaves ?? 0
    metrics.jobRuns.inc({ job: "checkpoint", status: "ok" })
    metrics.jobItemsChanged.inc({ job: "checkpoint" }, leaves)
    metrics.jobDuration.observe({ job: "checkpoint" }, (finished - started) / 1000)
    metrics.jobLastSuccess.set({ job: "checkpoint" }, finished / 1000)
    if (checkpoint !== null)
      yield* Effect.logInfo("audit checkpoint written", {
        seq: checkpoint.body.seq,
        leaves,
        root: checkpoint.body.root
      })
    return leaves
  })
