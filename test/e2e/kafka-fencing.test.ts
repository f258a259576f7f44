/**
 * A zombie instance: `turnvault start` frozen with SIGSTOP in the middle of the stream for longer
 * than its session timeout loses its partitions to a second instance, which advances them. When the
 * first one is thawed (SIGCONT) with chunks still in flight, it must not change state the new owner
 * advanced: the stores still equal `process` and `verify` passes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sleep, waitFor } from "../support/child"
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

describe("kafka fencing: a frozen instance thawed after a takeover", () => {
  let db: TestDatabase | undefined
  const children: Array<TurnvaultProcess> = []

  beforeAll(() => requireKcat())
  afterAll(async () => {
    for (const child of children) await child.kill()
    await db?.drop()
  })

  it("does not let the thawed zombie overwrite what the new owner advanced", async () => {
    const { brokers, database, dir, workload, group, topics, env, referencePromise } = await prepareScenario({
      name: "fencing",
      seed: 6_006,
      count: 3_000,
      extra: {
        TURNVAULT_PARTITIONS: "8",
        TURNVAULT_BATCH_SIZE: "50",
        TURNVAULT_KAFKA_SESSION_TIMEOUT_MS: "6000"
      }
    })
    db = database
    const total = workload.lines.length

    const zombie = await spawnTurnvault({ name: "zombie", dir, env })
    children.push(zombie)
    await zombie.waitHealthy()
    const { admin } = await kafkaAdmin(brokers)
    let owner: TurnvaultProcess
    try {
      await waitFor(
        "the zombie's group to be stable",
        async () => ((await admin.describeGroups([group])).groups[0]?.state === "Stable" ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 200 }
      )
      await kcatProduce(brokers, topics.turnEvents, workload.lines)
      await zombie.waitCommitted(Math.floor(total / 5), 120_000)
      zombie.pause()
      const frozenAt = (await groupPosition(admin, group, topics.byCustomer)).committed

      owner = await spawnTurnvault({ name: "owner", dir, env })
      children.push(owner)
      await owner.waitHealthy()
      // the owner joins once the frozen member's session expired, and advances past the zombie
      await owner.waitCommitted(Math.floor(total / 5), 120_000)
      const advancedTo = (await groupPosition(admin, group, topics.byCustomer)).committed
      expect(advancedTo).toBeGreaterThan(frozenAt)

      zombie.resume()
      await waitGroupCaughtUp(brokers, group, [topics.turnEvents, topics.byCustomer], {
        exact: true,
        timeoutMs: 150_000,
        describe: () => `${zombie.stderrPath} ${owner.stderrPath}`
      })
      // give the zombie's thawed in-flight chunks time to try their writes
      await sleep(3_000)
      console.log(
        `[kafka-fencing] zombie frozen at ${frozenAt}, owner advanced to ${advancedTo} of ${total} (logs: ${dir})`
      )
    } finally {
      await admin.disconnect()
    }
    await Promise.all([zombie.stop(), owner.stop()])

    const reference = await referencePromise
    const actual = await databaseExport(dir, database.url)
    expect(duplicateTurnRecords(actual.records)).toEqual([])
    expect(compareExports(reference, actual)).toBe("")
    const verify = await runTurnvault(["verify"], { DATABASE_URL: database.url })
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
  }, 300_000)
})
