/**
 * The ingest worker's Kafka consumer (kafkajs): its own group on the memory-ingestion topic,
 * at-least-once. A fetched batch is handed over in chunks; a chunk's offsets are committed only
 * after the handler finished every task of it (processed, a duplicate, or dead-lettered), so a
 * crash redoes at most the chunk in flight, and the worker's results make that a no-op. A slow
 * model can hold a chunk for minutes: the consumer heartbeats meanwhile (kafkajs heartbeats only
 * between batches). Stopping interrupts the chunk in flight, whose offsets stay uncommitted, and
 * then leaves the group.
 */
import { Deferred, Duration, Effect, Fiber, FiberSet, Schedule } from "effect"
import type { Consumer, EachBatchPayload } from "kafkajs"
import { EventSourceError } from "../../ports/EventSource"
import { KafkaClient } from "./KafkaClient"
import { attempt } from "./PartitionLanes"

export interface IngestRecord {
  readonly partition: number
  readonly offset: string
  readonly key: string | null
  readonly value: Buffer
}

export interface IngestConsumerConfig {
  readonly topic: string
  readonly group: string
  /** Records handed to the handler at once (then committed). */
  readonly chunk: number
  readonly sessionTimeoutMs: number
  /** Partitions handled at once (kafkajs handles one at a time by default). */
  readonly partitionsConcurrently: number
  /** After each chunk: how many records of the partition wait behind it. */
  readonly onLag: (partition: number, lag: number) => void
}

/** Runs until interrupted, or fails when kafkajs gives the consumer up. */
export const consumeIngestTasks = <R>(
  config: IngestConsumerConfig,
  handle: (records: ReadonlyArray<IngestRecord>) => Effect.Effect<void, never, R>
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const kafka = yield* KafkaClient
      const crashed = yield* Deferred.make<never, EventSourceError>()
      const heartbeatMs = Math.max(500, Math.floor(config.sessionTimeoutMs / 10))
      const consumer: Consumer = kafka.consumer({
        groupId: config.group,
        sessionTimeout: config.sessionTimeoutMs,
        heartbeatInterval: heartbeatMs,
        rebalanceTimeout: config.sessionTimeoutMs * 2,
        maxWaitTimeInMs: 250,
        allowAutoTopicCreation: false
      })
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (!payload.restart)
          Deferred.unsafeDone(
            crashed,
            Effect.fail(new EventSourceError({ operation: "consume", cause: payload.error }))
          )
      })
      yield* Effect.acquireRelease(
        attempt("connect", () => consumer.connect()),
        () =>
          Effect.promise(() => consumer.disconnect()).pipe(
            Effect.timeout(Duration.seconds(30)),
            Effect.ignore
          )
      )
      // Made after the consumer, so closed before it: the chunk in flight is interrupted first,
      // then the consumer (which waits for eachBatch to return) leaves the group.
      const runFork = yield* FiberSet.makeRuntimePromise<R>()

      const eachBatch = async (payload: EachBatchPayload) => {
        const { batch, heartbeat, isRunning, isStale } = payload
        const beat = attempt("heartbeat", heartbeat).pipe(
          Effect.ignore,
          Effect.repeat(Schedule.spaced(Duration.millis(heartbeatMs))),
          Effect.delay(Duration.millis(heartbeatMs))
        )
        for (let from = 0; from < batch.messages.length; from += config.chunk) {
          if (!isRunning() || isStale()) return
          const messages = batch.messages.slice(from, from + config.chunk)
          const records = messages.map((m) => ({
            partition: batch.partition,
            offset: m.offset,
            key: m.key?.toString("utf8") ?? null,
            value: m.value ?? Buffer.alloc(0)
          }))
          try {
            await runFork(
              Effect.gen(function* () {
                const beating = yield* Effect.fork(beat)
                yield* handle(records).pipe(Effect.ensuring(Fiber.interrupt(beating)))
              })
            )
          } catch {
            return // stopping: the chunk in flight stays uncommitted
          }
          const last = messages[messages.length - 1]!.offset
          const next = (BigInt(last) + 1n).toString()
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }])
          payload.resolveOffset(last)
          config.onLag(batch.partition, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(next))))
        }
      }

      yield* attempt("subscribe", () => consumer.subscribe({ topics: [config.topic], fromBeginning: true }))
      yield* attempt("run", () =>
        consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: config.partitionsConcurrently,
          eachBatch
        })
      )
      return yield* Deferred.await(crashed)
    })
  )
