/**
 * The embedded event log: an in-process, partitioned, append-only log with consumer-group offsets.
 * It stands in for Kafka when `KAFKA_BROKERS` is unset: same keys, same partitioning by key, same
 * commit-after-durable rule. Records are kept in memory; a topic's old records are trimmed once
 * every group has committed past them and `retainRecords` is exceeded.
 */
import { Context, Layer } from "effect"

export interface LogRecord {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly key: string | null
  readonly value: string | Buffer
  readonly headers: Readonly<Record<string, string>>
}

export interface AppendInput {
  readonly topic: string
  readonly key: string | null
  /** Partition by this instead of the key (the embedded log partitions the input by customer). */
  readonly partitionKey?: string
  readonly value: string | Buffer
  readonly headers?: Readonly<Record<string, string>>
}

interface Partition {
  base: number
  records: Array<LogRecord>
}

/** Same idea as Kafka's default partitioner: a stable hash of the key modulo the partition count. */
export const partitionFor = (key: string | null, partitions: number, roundRobin: number): number => {
  if (key === null) return roundRobin % partitions
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return (h >>> 0) % partitions
}

export const makeInProcessLog = (options: {
  readonly partitions: number
  readonly retainRecords: number
}) => {
  const topics = new Map<string, Array<Partition>>()
  const committed = new Map<string, number>()
  let counter = 0

  const partitionsOf = (topic: string) => {
    let parts = topics.get(topic)
    if (parts === undefined) {
      parts = Array.from({ length: options.partitions }, () => ({ base: 0, records: [] }))
      topics.set(topic, parts)
    }
    return parts
  }
  const groupKey = (group: string, topic: string, partition: number) =>
    `${group}\u0000${topic}\u0000${partition}`

  const append = (input: AppendInput): LogRecord => {
    const parts = partitionsOf(input.topic)
    const partition = partitionFor(input.partitionKey ?? input.key, parts.length, counter++)
    const part = parts[partition]!
    const record: LogRecord = {
      topic: input.topic,
      partition,
      offset: part.base + part.records.length,
      key: input.key,
      value: input.value,
      headers: input.headers ?? {}
    }
    part.records.push(record)
    return record
  }

  const trim = (topic: string, partition: number, upTo: number) => {
    const part = partitionsOf(topic)[partition]!
    const excess = part.records.length - options.retainRecords
    const drop = Math.min(excess, upTo - part.base)
    if (drop > 0) {
      part.records.splice(0, drop)
      part.base += drop
    }
  }

  return {
    partitions: options.partitions,
    append,
    /** Records of one partition from `offset`, at most `max`. */
    read: (topic: string, partition: number, offset: number, max: number): ReadonlyArray<LogRecord> => {
      const part = partitionsOf(topic)[partition]!
      const from = Math.max(0, offset - part.base)
      return part.records.slice(from, from + max)
    },
    endOffset: (topic: string, partition: number) => {
      const part = partitionsOf(topic)[partition]!
      return part.base + part.records.length
    },
    committed: (group: string, topic: string, partition: number) =>
      committed.get(groupKey(group, topic, partition)) ?? 0,
    commit: (group: string, topic: string, partition: number, offset: number) => {
      committed.set(groupKey(group, topic, partition), offset)
      trim(topic, partition, offset)
    },
    /** Every record of a topic still retained, partition by partition (tests and export). */
    all: (topic: string): ReadonlyArray<LogRecord> => partitionsOf(topic).flatMap((part) => part.records)
  }
}

export type InProcessLogService = ReturnType<typeof makeInProcessLog>

export class InProcessLog extends Context.Tag("turnvault/InProcessLog")<InProcessLog, InProcessLogService>() {
  static readonly layer = (options: { readonly partitions: number; readonly retainRecords: number }) =>
    Layer.sync(InProcessLog, () => makeInProcessLog(options))
}
