/**
 * Rebalance handover: two `turnvault start` processes in one consumer group share the 8
 * partitions; one is stopped with SIGTERM mid-stream (it finishes and commits its chunks in flight,
 * then leaves the group) and the other takes its partitions over. The stores equal `process`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { waitFor } from "../support/child"
import { kcatProduce, requireKcat } from "../support/kcat"
import type { TestDatabase } from "../support/postgres"
import {
  compareExports,
  databaseExport,
  duplicateTurnRecords,
  groupPosition,
  kafkaAdmin,
  runTurnvault,
  spawnTurnvault,
  type TurnvaultProcess,
  waitGroupCaughtUp,
  prepareScenario
} from "../support/turnvaultProcess"

describe("kafka handover: two instances, one leaves mid-stream", () => {
  let db: TestDatabase | undefined
  const children: Array<TurnvaultProcess> = []

  beforeAll(() => requireKcat())
  afterAll(async () => {
    for (const child of children) await child.kill()
    await db?.drop()
  })

  it("shares the partitions, hands them over on SIGTERM and ends equal to `process`", async () => {
    const { brokers, database, dir, workload, group, topics, env, referencePromise } = await prepareScenario({
      name: "handover",
      seed: 3_003,
      count: 4_000,
      extra: {
        TURNVAULT_PARTITIONS: "8",
        TURNVAULT_BATCH_SIZE: "50",
        TURNVAULT_KAFKA_SESSION_TIMEOUT_MS: "10000"
      }
    })
    db = database

    const a = await spawnTurnvault({ name: "a", dir, env })
    const b = await spawnTurnvault({ name: "b", dir, env })
    children.push(a, b)
    await Promise.all([a.waitHealthy(), b.waitHealthy()])

    const { admin } = await kafkaAdmin(brokers)
    try {
      // both members in a stable group, each with some of the partitions
      const members = await waitFor(
        "a stable group of two members",
        async () => {
          const { groups } = await admin.describeGroups([group])
          const g = groups[0]
          return g?.state === "Stable" && g.members.length === 2 ? g.members : undefined
        },
        { timeoutMs: 60_000, intervalMs: 300 }
      )
      expect(members).toHaveLength(2)

      await kcatProduce(brokers, topics.turnEvents, workload.lines)
      const total = workload.lines.length
      await waitFor(
        "both instances committing",
        async () => ((await a.committed()) > 0 && (await b.committed()) > 0 ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 100 }
      )
      await waitFor(
        "a third of the stream committed",
        async () =>
          (await groupPosition(admin, group, topics.byCustomer)).committed >= total / 3 ? true : undefined,
        { timeoutMs: 120_000, intervalMs: 100 }
      )
      const [aBefore, bBefore] = [await a.committed(), await b.committed()]
      const stopped = await a.stop()
      expect(stopped, await a.logs()).toEqual({ code: 0, signal: null })
      const atStop = await groupPosition(admin, group, topics.byCustomer)
      expect(atStop.committed).toBeLessThan(total)

      await waitGroupCaughtUp(brokers, group, [topics.turnEvents, topics.byCustomer], {
        timeoutMs: 150_000,
        describe: () => b.stderrPath
      })
      const bAfter = await b.committed()
      console.log(
        `[kafka-handover] a committed ${aBefore} before SIGTERM; b ${bBefore} then ${bAfter}; ` +
          `group at ${atStop.committed}/${total} when a left (logs: ${dir})`
      )
      // b took over a's partitions: it alone committed everything that remained when a left
      expect(bAfter - bBefore).toBeGreaterThanOrEqual(total - atStop.committed)
      expect(aBefore).toBeGreaterThan(0)
      const { groups } = await admin.describeGroups([group])
      expect(groups[0]?.members).toHaveLength(1)
    } finally {
      await admin.disconnect()
    }
    expect(await b.stop()).toEqual({ code: 0, signal: null })

    const reference = await referencePromise
    const actual = await databaseExport(dir, database.url)
    expect(duplicateTurnRecords(actual.records)).toEqual([])
    expect(compareExports(reference, actual)).toBe("")
    const verify = await runTurnvault(["verify"], { DATABASE_URL: database.url })
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
  }, 300_000)
})
