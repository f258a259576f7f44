/**
 * The audit checkpoints from the command line (decision 0018): `turnvault checkpoints keygen`
 * (a new Ed25519 key pair), `checkpoints write` (one checkpoint now), `checkpoints list`,
 * `prove --tenant T --turn ID` (a turn's inclusion proof) and `verify-proof --proof FILE` (checks
 * one with the public key alone: no store, no broker). `start` writes them on a schedule.
 */
import { Effect, Option, Redacted } from "effect"
import { readFile } from "node:fs/promises"
import type { KeyObject } from "node:crypto"
import { TurnProof } from "../../../schemas/Audit"
import type { AppConfig } from "../../config/AppConfig"
import {
  type AuditCheckpoint,
  buildProof,
  CheckpointKeyError,
  type CheckpointSigner,
  keyIdOf,
  proofProblems,
  publicKeyOf,
  signerOf
} from "../../domain/checkpoint"
import { checkpointJob, writeCheckpoint } from "../../jobs/Checkpointer"
import type { ClaimedJob } from "../../jobs/JobScheduler"
import { AuditStore } from "../../ports/AuditStore"
import { CheckpointStore } from "../../ports/CheckpointStore"
import type { CustomerKeys } from "../../ports/CustomerKeys"
import type { Metrics } from "../../observability/Metrics"
import { OutputSink } from "../../ports/OutputSink"
import { topicNames } from "../../../streams/topics"
import { CliInputError, readJsonFile } from "./process"

const keyProblem = (error: unknown) =>
  new CliInputError({ message: error instanceof CheckpointKeyError ? error.message : String(error) })

/** The signer of TURNVAULT_CHECKPOINT_KEY, or none when it is unset. */
export const configuredSigner = (config: AppConfig) =>
  Option.match(config.checkpointKey, {
    onNone: () => Effect.succeed(Option.none<CheckpointSigner>()),
    onSome: (key) => Effect.try({ try: () => Option.some(signerOf(Redacted.value(key))), catch: keyProblem })
  })

const needSigner = (config: AppConfig) =>
  Effect.flatMap(configuredSigner(config), (signer) =>
    Option.match(signer, {
      onNone: () =>
        Effect.fail(
          new CliInputError({
            message: "TURNVAULT_CHECKPOINT_KEY is required (make one with `turnvault checkpoints keygen`)"
          })
        ),
      onSome: Effect.succeed
    })
  )

/**
 * The key signatures are checked with: `--public-key FILE`, else TURNVAULT_CHECKPOINT_PUBLIC_KEY,
 * else the public half of TURNVAULT_CHECKPOINT_KEY.
 */
export const verifyingKey = (config: AppConfig, file: string | undefined) =>
  Effect.gen(function* () {
    if (file !== undefined) {
      const text = yield* Effect.tryPromise({
        try: () => readFile(file, "utf8"),
        catch: (e) => new CliInputError({ message: `cannot read ${file}: ${String(e)}` })
      })
      return yield* Effect.try({ try: () => publicKeyOf(text), catch: keyProblem })
    }
    if (Option.isSome(config.checkpointPublicKey)) {
      const text = config.checkpointPublicKey.value
      return yield* Effect.try({ try: () => publicKeyOf(text), catch: keyProblem })
    }
    const signer = yield* configuredSigner(config)
    if (Option.isSome(signer)) return signer.value.publicKey
    return yield* new CliInputError({
      message:
        "a public key is needed: --public-key FILE, TURNVAULT_CHECKPOINT_PUBLIC_KEY or TURNVAULT_CHECKPOINT_KEY"
    })
  })

/** Publishes checkpoints on the audit-checkpoints topic, keyed by seq. */
export const publishCheckpoints = (config: AppConfig) => (checkpoints: ReadonlyArray<AuditCheckpoint>) =>
  Effect.flatMap(OutputSink, (sink) =>
    sink.publish(
      checkpoints.map((checkpoint) => ({
        topic: topicNames(config.topicPrefix).auditCheckpoints,
        key: String(checkpoint.body.seq),
        value: JSON.stringify(checkpoint)
      }))
    )
  )

/** The checkpoint job of `start`'s schedule, when a key is configured. */
export const scheduledCheckpoints = (config: AppConfig) =>
  Effect.map(
    configuredSigner(config),
    Option.match({
      onNone: () => [],
      onSome: (
        signer
      ): ReadonlyArray<ClaimedJob<CheckpointStore | AuditStore | OutputSink | Metrics | CustomerKeys>> => [
        {
          job: "checkpoint",
          intervalMs: config.checkpointIntervalMs,
          work: checkpointJob(signer, publishCheckpoints(config))
        }
      ]
    })
  )

/** `checkpoints write`: one now; published when KAFKA_BROKERS is set (the caller's sink). */
export const writeCheckpointNow = (config: AppConfig) =>
  Effect.gen(function* () {
    const signer = yield* needSigner(config)
    const checkpoint = yield* writeCheckpoint(signer, publishCheckpoints(config))
    return checkpoint === null
      ? { written: false, reason: "nothing was written since the last checkpoint" }
      : {
          written: true,
          seq: checkpoint.body.seq,
          leaves: checkpoint.body.leaves,
          root: checkpoint.body.root
        }
  })

/** `checkpoints list`: one line per checkpoint, without its heads. */
export const listCheckpoints = Effect.map(
  Effect.flatMap(CheckpointStore, (store) => store.list()),
  (list) => list.map(({ body, signature }) => ({ ...body, signature }))
)

/** `prove`: the proof of one turn record, or why there is none. */
export const proveTurn = (tenantId: string, turnId: string) =>
  Effect.gen(function* () {
    const audit = yield* AuditStore
    const [record] = yield* audit.findRecords(tenantId, [turnId])
    if (record === undefined)
      return yield* new CliInputError({ message: `no turn record ${turnId} for tenant ${tenantId}` })
    const chain = yield* audit.listRecords({ tenantId, sessionId: record.session_id })
    const checkpoints = yield* Effect.flatMap(CheckpointStore, (store) => store.list())
    const proof = buildProof(record, chain, checkpoints)
    if (proof === null)
      return yield* new CliInputError({
        message: `turn ${turnId} is in no checkpoint whose head its chain still reaches: not checkpointed yet (the next is due within TURNVAULT_CHECKPOINT_INTERVAL_MS), or the chain was changed (run verify --checkpoints)`
      })
    return proof
  })

/** `verify-proof`: whether a proof file holds, with the public key alone. */
export const verifyProofFile = (path: string, publicKey: KeyObject) =>
  Effect.map(readJsonFile(path, TurnProof), (proof) => {
    const problems = proofProblems(proof, publicKey)
    return {
      valid: problems.length === 0,
      tenant_id: proof.tenant_id,
      turn_id: proof.turn_id,
      checkpoint: proof.checkpoint.body.seq,
      cut: proof.checkpoint.body.cut,
      key_id: keyIdOf(publicKey),
      problems
    }
  })
