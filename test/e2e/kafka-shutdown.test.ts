/**
 * Bounded shutdown, on real Kafka and PostgreSQL: a batch whose outputs can never be published (its
 * output topics were deleted under the service; the producer retries for ever) must not hold the
 * process after SIGTERM beyond TURNVAULT_SHUTDOWN_TIMEOUT_MS, and a second signal ends it at once.
 * Either way it exits non-zero without committing the batch, which the next instance finishes:
 * its turns are replayed from the stores, published once, never applied twice.
 */
import { Kafka, logLevel } from "kafkajs"
import { afterAll, describe, expect, it } from "vitest"
import { topicCatalogue } from "../../streams/topics"
import { sleep, waitFor } from "../support/child"
import { def, turn } from "../support/events"
import { kcatConsume, kcatProduce, requireKcat } from "../support/kcat"
import type { TestDatabase } from "../support/postgres"
import {
  groupPosition,
  handWrittenScenario,
  kafkaAdmin,
  spawnTurnvault,
  type TurnvaultProcess,
  waitGroupCaughtUp
} from "../support/turnvaultProcess"

const databases: Array<TestDatabase> = []
const children: Array<TurnvaultProcess> = []
afterAll(async () => {
  for (const child of children) await child.kill()
  for (const db of databases) await db.drop()
})

/** Resolves with the exit, or rejects if the process is still running after `ms`. */
const exitWithin = (child: TurnvaultProcess, ms: number) =>
  Promise.race([
    child.exited,
    sleep(ms).then(() => {
      throw new Error(`${child.name} still running ${ms} ms after the signal`)
    })
  ])

describe("bounded shutdown", () => {
  it("a stuck batch: SIGTERM exits non-zero past the deadline, a second signal at once; the next instance finishes it", async () => {
    requireKcat()
    // a member that exits without leaving the group holds its partitions for its session timeout
    const { brokers, database, dir, group, topics, env } = await handWrittenScenario(
      "shutdown",
      [def("note", "string", "BUSINESS")],
      {
        TURNVAULT_READY_STALL_MS: "3000",
        TURNVAULT_PARTITIONS: "2",
        TURNVAULT_ENSURE_TOPICS: "false",
        TURNVAULT_KAFKA_SESSION_TIMEOUT_MS: "8000"
      }
    )
    databases.push(database)
    // Only what the service reads and dead-letters to: the topics its outputs go to are missing.
    const kafka = new Kafka({ clientId: "shutdown-test", brokers: [brokers], logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    const catalogue = topicCatalogue(env.TURNVAULT_TOPIC_PREFIX!, 2)
    const create = (names: ReadonlyArray<string>) =>
      admin.createTopics({
        waitForLeaders: true,
        topics: catalogue
          .filter((t) => names.includes(t.name))
          .map((t) => ({ topic: t.name, numPartitions: t.partitions, replicationFactor: -1 }))
      })
    await create([topics.turnEvents, topics.byCustomer, topics.dlq])
    const events = Array.from({ length: 6 }, (_, i) =>
      turn({
        session: `s${i % 3}`,
        customer: `c${i % 3}`,
        turn: Math.floor(i / 3) + 1,
        vars: { note: `n${i}` }
      })
    )
    await kcatProduce(
      brokers,
      topics.turnEvents,
      events.map((e) => ({ key: e.session_id, value: JSON.stringify(e) }))
    )

    const stuckUntilSignalled = async (name: string, timeoutMs: string) => {
      const child = await spawnTurnvault({
        name,
        dir,
        env: { ...env, TURNVAULT_SHUTDOWN_TIMEOUT_MS: timeoutMs }
      })
      children.push(child)
      await child.waitHealthy()
      // stage 1 commits; the stateful stage's batch is durable but cannot publish its outputs
      await waitGroupCaughtUp(brokers, group, topics.turnEvents, { timeoutMs: 60_000 })
      await sleep(2_000)
      expect(child.isRunning()).toBe(true)
      return child
    }

    // 1. one SIGTERM: the process waits for the batch until the deadline, then exits 1
    const first = await stuckUntilSignalled("shutdown-1", "2000")
    first.signal("SIGTERM")
    expect(await exitWithin(first, 30_000)).toEqual({ code: 1, signal: null })
    expect(await first.logs()).toContain("shutdown cut short: shutdown still running after 2000 ms")

    // 2. the restarted instance is stuck from its start: /readyz says so once the stall window
    // passes; a second signal does not wait for the deadline (ten minutes here)
    const second = await stuckUntilSignalled("shutdown-2", "600000")
    await waitFor(
      "/readyz of the restarted, stuck instance to answer 503",
      async () => ((await fetch(`http://127.0.0.1:${second.port}/readyz`)).status === 503 ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 500 }
    )
    second.signal("SIGTERM")
    await sleep(2_000) // a repeat within a second is ignored (npm forwards Ctrl-C twice)
    expect(second.isRunning()).toBe(true)
    second.signal("SIGINT")
    expect(await exitWithin(second, 30_000)).toEqual({ code: 1, signal: null })
    expect(await second.logs()).toContain("shutdown cut short: second SIGINT")

    // nothing of the stuck batches was committed on the by-customer topic
    const { admin: positions } = await kafkaAdmin(brokers)
    const stateful = await groupPosition(positions, group, topics.byCustomer)
    await positions.disconnect()
    expect(stateful.committed).toBe(0)

    // 3. with the output topics back, the next instance finishes: each turn published once
    await create([topics.memoryIngestion, topics.turnRecords, topics.telemetry])
    await admin.disconnect()
    const third = await spawnTurnvault({ name: "shutdown-3", dir, env })
    children.push(third)
    await third.waitHealthy()
    await waitGroupCaughtUp(brokers, group, [topics.turnEvents, topics.byCustomer], { timeoutMs: 60_000 })
    const records = await kcatConsume(brokers, topics.turnRecords)
    expect(records.map((r) => r.headers.turn_id).sort()).toEqual(events.map((e) => e.turn_id).sort())
    expect(await third.stop()).toEqual({ code: 0, signal: null })
  }, 240_000)
})
