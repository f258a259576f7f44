/**
 * Kafka pitfalls, each against the real broker and a real `turnvault start`:
 * (a) offsets are committed explicitly, with no autoCommit interval or threshold;
 * (b) a committed offset out of range restarts from the earliest offset, not the latest;
 * (c) a PostgreSQL outage mid-stream pauses consumption: nothing lost, twice or dead-lettered;
 * (d) 50 concurrent publishes through the idempotent producer sink all arrive exactly once;
 * (e) a chunk held longer than the session timeout does not get its member evicted.
 */
import { Effect, Layer } from "effect"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { KafkaClient } from "../../src/adapters/kafka/KafkaClient"
import { KafkaSinkLive } from "../../src/adapters/kafka/KafkaSink"
import { type OutputMessage, OutputSink } from "../../src/ports/OutputSink"
import { topicNames } from "../../streams/topics"
import { sleep, waitFor } from "../support/child"
import { ensureKafka } from "../support/kafka"
import { kcatConsume, kcatProduce, requireKcat } from "../support/kcat"
import { adminUrl, freshDatabase, type TestDatabase } from "../support/postgres"
import {
  compareExports,
  databaseExport,
  diffRows,
  duplicateTurnRecords,
  groupPosition,
  kafkaAdmin,
  kafkaEnv,
  makeWorkload,
  referenceExport,
  runTurnvault,
  type StoreExport,
  spawnTurnvault,
  type TurnvaultProcess,
  turnvault,
  uniqueName,
  waitGroupCaughtUp,
  type Workload,
  workDir,
  writeWorkload
} from "../support/turnvaultProcess"

const databases: Array<TestDatabase> = []
const children: Array<TurnvaultProcess> = []

beforeAll(() => requireKcat())
afterAll(async () => {
  for (const child of children) await child.kill()
  for (const db of databases) await db.drop()
})

/** One scenario: a database with the definitions, unique topics and group, a workload file. */
const scenario = async (label: string, workload: Workload, extra: Record<string, string> = {}) => {
  const [brokers, database, dir] = await Promise.all([
    ensureKafka(),
    freshDatabase(),
    workDir(`kafka-${label}`)
  ])
  databases.push(database)
  const files = await writeWorkload(dir, workload)
  const prefix = `${uniqueName(label)}.`
  const group = uniqueName(`${label}-group`)
  const env = kafkaEnv({
    brokers,
    databaseUrl: database.url,
    prefix,
    group,
    extra: { TURNVAULT_PARTITIONS: "8", ...extra }
  })
  await turnvault(["definitions", "import", files.definitions], { DATABASE_URL: database.url })
  await turnvault(["topics", "ensure"], env)
  const spawnOne = async (name: string) => {
    const child = await spawnTurnvault({ name, dir, env })
    children.push(child)
    await child.waitHealthy()
    return child
  }
  return { brokers, database, dir, files, group, env, topics: topicNames(prefix), spawnOne }
}

const reasons = (rows: ReadonlyArray<string>) =>
  rows.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r]: (acc[r] ?? 0) + 1 }), {})

/** Deliveries of applied turns: each publishes its outputs once (duplicates republish). */
const deliveriesOf = (workload: Workload, reference: StoreExport) => {
  const dead = new Set(reference.dlq.map((d) => d.line as number))
  const applied = new Set(reference.records.map((r) => `${r.tenant_id}/${r.turn_id}`))
  return workload.lines.filter((line, i) => {
    if (dead.has(i + 1)) return false
    const event = JSON.parse(line.value) as Record<string, any>
    return event.event_type === "turn.completed" && applied.has(`${event.tenant_id}/${event.turn_id}`)
  }).length
}

describe("kafka pitfalls", () => {
  it("(a) commits offsets with no autoCommit interval; (b) an out-of-range offset restarts from the earliest", async () => {
    const all = makeWorkload({ seed: 4_004, count: 1_600 })
    const first: Workload = { ...all, lines: all.lines.slice(0, 1_000) }
    const second = all.lines.slice(1_000)
    const s = await scenario("offsets", all)
    const referencePromise = referenceExport(s.dir, s.files)

    // (a) all committed while the service runs: nothing waits for an interval or a threshold
    const one = await s.spawnOne("offsets-1")
    await kcatProduce(s.brokers, s.topics.turnEvents, first.lines)
    await one.waitCommitted(first.lines.length, 90_000)
    const { admin } = await kafkaAdmin(s.brokers)
    try {
      const position = await waitFor(
        "the broker's committed offsets to equal the end offsets",
        async () => {
          const p = await groupPosition(admin, s.group, s.topics.turnEvents)
          return p.partitions.every(([c, e]) => c === e) ? p : undefined
        },
        { timeoutMs: 5_000, intervalMs: 100 }
      )
      expect(position.committed).toBe(first.lines.length)
      expect(await one.stop()).toEqual({ code: 0, signal: null })

      // (b) the group's offsets beyond the end of every partition (as after a topic was recreated)
      const ends = await admin.fetchTopicOffsets(s.topics.turnEvents)
      await admin.setOffsets({
        groupId: s.group,
        topic: s.topics.turnEvents,
        partitions: ends.map((e) => ({ partition: e.partition, offset: String(Number(e.high) + 1_000) }))
      })
      const beyond = await groupPosition(admin, s.group, s.topics.turnEvents)
      expect(beyond.partitions.every(([c, e]) => c === e + 1_000)).toBe(true)
      // produced while no member runs: a reset to "latest" would skip all of it
      await kcatProduce(s.brokers, s.topics.turnEvents, second)
      const two = await s.spawnOne("offsets-2")
      await waitGroupCaughtUp(s.brokers, s.group, [s.topics.turnEvents, s.topics.byCustomer], {
        exact: true,
        timeoutMs: 120_000,
        describe: () => two.stderrPath
      })
      expect(await two.stop()).toEqual({ code: 0, signal: null })
      const logs = await two.logs(200_000)
      // kafkajs's words, or PlatformaticSource's (TEST_KAFKA_CONSUMER=platformatic)
      expect(logs).toMatch(/Offset out of range, resetting to (default|the earliest) offset/)
    } finally {
      await admin.disconnect()
    }
    const reference = await referencePromise
    const actual = await databaseExport(s.dir, s.database.url)
    expect(duplicateTurnRecords(actual.records)).toEqual([])
    expect(compareExports(reference, actual)).toBe("")
  }, 240_000)

  it("(c)+(e) a store outage longer than the session timeout pauses the same member: nothing lost, twice or dead-lettered", async () => {
    const workload = makeWorkload({ seed: 5_005, count: 1_500 })
    const s = await scenario("outage", workload, {
      TURNVAULT_KAFKA_SESSION_TIMEOUT_MS: "6000",
      TURNVAULT_BATCH_SIZE: "50",
      TURNVAULT_RETRY_BASE_MS: "50",
      TURNVAULT_RETRY_MAX_MS: "500",
      TURNVAULT_RETRY_ATTEMPTS: "3",
      TURNVAULT_PAUSE_MS: "500",
      TURNVAULT_PG_POOL_SIZE: "4"
    })
    const referencePromise = referenceExport(s.dir, s.files)
    const service = await s.spawnOne("outage")
    const { admin } = await kafkaAdmin(s.brokers)
    const pgAdmin = new pg.Client({ connectionString: adminUrl })
    await pgAdmin.connect()
    const outageMs = 15_000
    let memberBefore: string | undefined
    let committedDuringOutage: Array<number> = []
    try {
      memberBefore = await waitFor(
        "the member",
        async () => {
          const { groups } = await admin.describeGroups([s.group])
          return groups[0]?.state === "Stable" ? groups[0].members[0]?.memberId : undefined
        },
        { timeoutMs: 60_000, intervalMs: 200 }
      )
      await kcatProduce(s.brokers, s.topics.turnEvents, workload.lines)
      await service.waitCommitted(Math.floor(workload.lines.length / 4), 90_000)

      // the outage: no new connections to the database, and every open one cut
      await pgAdmin.query(`ALTER DATABASE ${s.database.name} ALLOW_CONNECTIONS false`)
      await pgAdmin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        [s.database.name]
      )
      const outageStarted = Date.now()
      while (Date.now() - outageStarted < outageMs) {
        await sleep(1_000)
        committedDuringOutage.push(await service.committed())
      }
      await pgAdmin.query(`ALTER DATABASE ${s.database.name} ALLOW_CONNECTIONS true`)
      expect(service.isRunning()).toBe(true)

      await waitGroupCaughtUp(s.brokers, s.group, [s.topics.turnEvents, s.topics.byCustomer], {
        timeoutMs: 120_000,
        describe: () => service.stderrPath
      })
      // the same member, never evicted, finished the stream
      const { groups } = await admin.describeGroups([s.group])
      expect(groups[0]?.members.map((m) => m.memberId)).toEqual([memberBefore])
      expect(await service.committed()).toBe(workload.lines.length)
    } finally {
      await pgAdmin.query(`ALTER DATABASE ${s.database.name} ALLOW_CONNECTIONS true`).catch(() => {})
      await pgAdmin.end()
      await admin.disconnect()
    }
    // paused: after the first seconds (chunks that needed no store) nothing was committed
    committedDuringOutage = committedDuringOutage.slice(3)
    expect(new Set(committedDuringOutage).size, JSON.stringify(committedDuringOutage)).toBe(1)
    expect(await service.stop()).toEqual({ code: 0, signal: null })
    const logs = await service.logs(400_000)
    // the outage pauses the batch wherever it hits: in the writes, or in a look-up before them
    expect(
      logs.includes("stores unavailable; pausing until they recover") ||
        logs.includes("batch failed on a store error; retrying")
    ).toBe(true)

    const reference = await referencePromise
    const actual = await databaseExport(s.dir, s.database.url)
    expect(duplicateTurnRecords(actual.records)).toEqual([])
    expect(compareExports(reference, actual)).toBe("")
    // nothing dead-lettered by the outage: the DLQ holds exactly the reference's bad lines
    const dlq = await kcatConsume(s.brokers, s.topics.dlq)
    expect(reasons(dlq.map((m) => m.headers.reason ?? ""))).toEqual(
      reasons(reference.dlq.map((d) => d.reason))
    )
    // no turn delivered twice: each output published once per delivery of its turn
    const memory = await kcatConsume(s.brokers, s.topics.memoryIngestion)
    expect(memory.length).toBe(deliveriesOf(workload, reference))
    const verify = await runTurnvault(["verify"], { DATABASE_URL: s.database.url })
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
  }, 240_000)

  it("(d) 50 concurrent publishes through the idempotent producer sink arrive exactly once", async () => {
    const brokers = await ensureKafka()
    const topics = [`${uniqueName("sink")}.a`, `${uniqueName("sink")}.b`]
    const { admin } = await kafkaAdmin(brokers)
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: topics.map((topic) => ({ topic, numPartitions: 4, replicationFactor: 1 }))
      })
    } finally {
      await admin.disconnect()
    }
    const fibers = 50
    const perPublish = 40
    const batchOf = (fiber: number): Array<OutputMessage> =>
      Array.from({ length: perPublish }, (_, i) => ({
        topic: topics[i % 2]!,
        key: `session-${fiber}-${i % 7}`,
        value: JSON.stringify({ fiber, i, pad: "x".repeat(200) }),
        headers: { turn_id: `${fiber}-${i}` }
      }))
    const layer = KafkaSinkLive.pipe(
      Layer.provide(KafkaClient.layer({ brokers: brokers.split(","), clientId: "e2e-sink" }))
    )
    await Effect.runPromise(
      Effect.gen(function* () {
        const sink = yield* OutputSink
        yield* Effect.forEach(
          Array.from({ length: fibers }, (_, f) => f),
          (f) => sink.publish(batchOf(f)),
          { concurrency: "unbounded", discard: true }
        )
      }).pipe(Effect.provide(layer), Effect.scoped)
    )
    const received = [
      ...(await kcatConsume(brokers, topics[0]!)),
      ...(await kcatConsume(brokers, topics[1]!))
    ]
    const expected = Array.from({ length: fibers }, (_, f) => batchOf(f)).flat()
    expect(
      diffRows(
        expected.map((m) => ({ topic: m.topic, key: m.key, value: m.value, turn_id: m.headers?.turn_id })),
        received.map((m) => ({ topic: m.topic, key: m.key, value: m.payload, turn_id: m.headers.turn_id }))
      )
    ).toEqual({ missing: [], extra: [], duplicates: [] })
    // per topic and key, the order of one publish is kept
    for (const [f, topic] of [
      [0, topics[0]!],
      [17, topics[1]!],
      [49, topics[0]!]
    ] as const) {
      const mine = received
        .filter((m) => m.topic === topic && m.key === `session-${f}-3`)
        .sort((a, b) => a.offset - b.offset)
        .map((m) => (JSON.parse(m.payload ?? "{}") as { i: number }).i)
      expect(mine).toEqual([...mine].sort((a, b) => a - b))
    }
  }, 120_000)
})
