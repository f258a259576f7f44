/**
 * Crash recovery (DESIGN 4): `turnvault start` is killed with SIGKILL three times at random points
 * of the stream and restarted each time; at the end the PostgreSQL stores equal a clean `process`
 * run of the same file (nothing missing, nothing twice) and `turnvault verify` passes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sleep, waitFor } from "../support/child"
import { kcatConsume, kcatProduce, requireKcat } from "../support/kcat"
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

describe("kafka crash: SIGKILL mid-stream, restart, exact stores", () => {
  let db: TestDatabase | undefined
  const children: Array<TurnvaultProcess> = []

  beforeAll(() => requireKcat())
  afterAll(async () => {
    for (const child of children) await child.kill()
    await db?.drop()
  })

  it("survives three SIGKILLs at random points with no missing and no duplicate turn", async () => {
    const { brokers, database, dir, workload, group, topics, env, referencePromise } = await prepareScenario({
      name: "crash",
      seed: 2_002,
      count: 4_000,
      extra: {
        TURNVAULT_PARTITIONS: "8",
        // small chunks: more commits, more turns in flight when the kill lands
        TURNVAULT_BATCH_SIZE: "50",
        // a killed member leaves the group after this long (the broker's minimum is 6 s)
        TURNVAULT_KAFKA_SESSION_TIMEOUT_MS: "6000"
      }
    })
    db = database
    await kcatProduce(brokers, topics.turnEvents, workload.lines)
    const total = workload.lines.length

    const { admin } = await kafkaAdmin(brokers)
    const kills: Array<{ committedAtKill: number; delayMs: number }> = []
    try {
      // Kill points spread over the first two thirds of the stream, each at a random committed
      // position of its sixth, so that the last one still lands with a third of the stream to go.
      const targets = [0.1, 0.3, 0.5].map((low) => Math.floor(total * (low + Math.random() * 0.15)))
      for (const [i, target] of targets.entries()) {
        const child = await spawnTurnvault({ name: `crash-${i}`, dir, env })
        children.push(child)
        await child.waitHealthy()
        await waitFor(
          `committed >= ${target} before kill ${i}`,
          async () =>
            (await groupPosition(admin, group, topics.byCustomer)).committed >= target ? true : undefined,
          { timeoutMs: 120_000, intervalMs: 100 }
        ).catch(async (error: Error) => {
          throw new Error(`${error.message}\n${await child.logs()}`)
        })
        // land somewhere inside the next chunks, not right on a commit
        const delayMs = Math.floor(Math.random() * 150)
        await sleep(delayMs)
        await child.kill()
        const position = await groupPosition(admin, group, topics.byCustomer)
        kills.push({ committedAtKill: position.committed, delayMs })
        expect(position.committed).toBeLessThan(total)
      }
    } finally {
      await admin.disconnect()
    }
    console.log(
      `[kafka-crash] killed at committed offsets ${JSON.stringify(kills)} of ${total} (logs: ${dir})`
    )

    const last = await spawnTurnvault({ name: "crash-final", dir, env })
    children.push(last)
    await last.waitHealthy()
    await waitGroupCaughtUp(brokers, group, [topics.turnEvents, topics.byCustomer], {
      timeoutMs: 150_000,
      describe: () => last.stderrPath
    })
    expect(await last.stop()).toEqual({ code: 0, signal: null })

    const reference = await referencePromise
    const actual = await databaseExport(dir, database.url)
    expect(duplicateTurnRecords(actual.records)).toEqual([])
    expect(actual.records.length).toBe(reference.records.length)
    expect(compareExports(reference, actual)).toBe("")

    // every applied turn has its memory-ingestion task (at least once; consumers dedupe by turn_id)
    const memory = await kcatConsume(brokers, topics.memoryIngestion)
    const taskIds = new Set(memory.map((m) => m.headers.turn_id))
    expect(actual.records.filter((r) => !taskIds.has(r.turn_id)).map((r) => r.turn_id)).toEqual([])
    console.log(
      `[kafka-crash] ${memory.length} memory-ingestion messages for ${actual.records.length} turns (${memory.length - taskIds.size} republished for duplicates and redeliveries)`
    )

    const verify = await runTurnvault(["verify"], { DATABASE_URL: database.url })
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
  }, 300_000)
})
