/**
 * `npm run chaos [-- --quick] [-- --only NAME]`: turnvault under faults, on services of its own
 * (chaos/services.ts), never the machine's shared ones. Each scenario streams a seeded workload into
 * `turnvault start` (Kafka + PostgreSQL + Redis) at a steady rate while it injects its fault, lets it
 * drain, then compares the PostgreSQL stores and the de-duplicated turn-record outputs with a clean
 * `process` run of the same events, and prints: events, faults injected, lost, duplicated,
 * mismatched, DLQ by reason, the longest stretch without a commit while events waited, and (broker
 * restarts) how long consumption took to resume. Exits 1 on any loss, duplicate or mismatch.
 *
 * Scenarios: SIGKILL of the service again and again; a second member of the group SIGSTOPped past
 * its session timeout and resumed; broker restarts; PostgreSQL stopped; its backends killed, at
 * random and right after a COMMIT; Redis stopped; a fuzzed stream (truncated JSON, wrong types, oversized values,
 * invalid UTF-8, empty and key-less messages, keys that are not the session_id, deep nesting).
 */
import { Kafka, logLevel } from "kafkajs"
import { sleep } from "../test/support/child"
import type { TurnvaultProcess } from "../test/support/turnvaultProcess"
import { privateKafka, privatePostgres, privateRedis } from "./services"

const quick = process.argv.includes("--quick")
const onlyAt = process.argv.indexOf("--only")
const only = onlyAt === -1 ? undefined : process.argv[onlyAt + 1]

const started = Date.now()
const log = (message: string) =>
  process.stderr.write(`[chaos ${((Date.now() - started) / 1000).toFixed(0)}s] ${message}\n`)

log(`starting private PostgreSQL, Kafka and Redis${quick ? " (quick)" : ""}`)
const [postgres, kafka, redis] = await Promise.all([privatePostgres(), privateKafka(), privateRedis()])
// The scenario helpers read these when they create databases and look for a broker.
process.env.TEST_DATABASE_ADMIN_URL = postgres.adminUrl
process.env.KAFKA_BROKERS = kafka.brokers
const support = await import("../test/support/turnvaultProcess")
const { kcatConsume } = await import("../test/support/kcat")

type Context = Awaited<ReturnType<typeof support.prepareScenario>>

/** The service under test: the child running now, replaced when a fault kills it. */
interface Service {
  current: TurnvaultProcess
  readonly restart: () => Promise<void>
  /** More members of the group, stopped with the service at the end. */
  readonly peers: Array<TurnvaultProcess>
}

interface Fault {
  /** Runs while the workload streams in; returns how many faults it injected. */
  readonly inject: (ctx: Context, service: Service) => Promise<number>
  /** Extra messages for the input topic, and the DLQ reason each must get. */
  readonly poison?: ReadonlyArray<{
    readonly key: string | null
    readonly value: Buffer
    readonly reason: string
  }>
}

interface Report {
  readonly scenario: string
  readonly events: number
  readonly faults: number
  readonly lost: number
  readonly duplicated: number
  readonly mismatched: number
  readonly dlq: Record<string, number>
  readonly dlqExpected: Record<string, number>
  readonly longestStallS: number
  readonly resumeS: Array<number>
}

const countBy = (items: ReadonlyArray<string>) => {
  const counts: Record<string, number> = {}
  for (const item of items) counts[item] = (counts[item] ?? 0) + 1
  return counts
}

/** Sends the messages at about `perSecond`, retrying a chunk the broker did not take (an outage). */
const stream = async (
  brokers: string,
  topic: string,
  messages: ReadonlyArray<{ readonly key: string | null; readonly value: string | Buffer }>,
  perSecond: number
) => {
  const client = new Kafka({ clientId: "chaos-producer", brokers: [brokers], logLevel: logLevel.NOTHING })
  const producer = client.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const chunk = Math.max(1, Math.round(perSecond / 10))
  // A record batch may not exceed the topic's max.message.bytes: a large message goes alone.
  const chunks: Array<typeof messages> = []
  for (let i = 0; i < messages.length; ) {
    const large = (m: (typeof messages)[number]) => Buffer.byteLength(m.value) > 64 * 1024
    let end = i
    if (large(messages[i]!)) end = i + 1
    else while (end < messages.length && end - i < chunk && !large(messages[end]!)) end++
    chunks.push(messages.slice(i, end))
    i = end
  }
  try {
    for (const batch of chunks) {
      for (let attempt = 1; ; attempt++) {
        try {
          await producer.send({ topic, messages: batch.map((m) => ({ key: m.key, value: m.value })) })
          break
        } catch (error) {
          // an outage lasts seconds; a message the broker refuses for good would wait for ever
          if (attempt >= 240) throw error
          await sleep(500)
        }
      }
      await sleep(100)
    }
  } finally {
    await producer.disconnect().catch(() => {})
  }
}

/**
 * Samples the group's commits every 250 ms: the longest stretch in which a partition (of either
 * stage) had events waiting and committed none, and how long after a given moment the next commit
 * came (resumption after a broker restart).
 */
const watchCommits = (ctx: Context) => {
  let running = true
  let longestMs = 0
  const partitions = new Map<string, { committed: number; since: number }>()
  let total = -1
  const commitsAfter: Array<{ at: number; resolve: (ms: number) => void }> = []
  const loop = (async () => {
    const { admin } = await support.kafkaAdmin(ctx.brokers)
    try {
      while (running) {
        const topics = [ctx.topics.turnEvents, ctx.topics.byCustomer]
        const positions = await Promise.all(
          topics.map((t) => support.groupPosition(admin, ctx.group, t))
        ).catch(() => null)
        const now = Date.now()
        if (positions !== null) {
          const committed = positions.reduce((s, p) => s + p.committed, 0)
          if (committed > total) {
            if (total >= 0) for (const w of commitsAfter.splice(0)) w.resolve(now - w.at)
            total = committed
          }
          for (const [t, position] of positions.entries()) {
            for (const [i, [done, end]] of position.partitions.entries()) {
              const key = `${topics[t]}/${i}`
              const known = partitions.get(key)
              if (known === undefined || done !== known.committed || done >= end)
                partitions.set(key, { committed: done, since: now })
              else longestMs = Math.max(longestMs, now - known.since)
            }
          }
        }
        await sleep(250)
      }
    } finally {
      await admin.disconnect().catch(() => {})
    }
  })()
  return {
    /** Resolves with the time from now to the next commit. */
    nextCommit: () => new Promise<number>((resolve) => commitsAfter.push({ at: Date.now(), resolve })),
    stop: async () => {
      running = false
      await loop
      return longestMs / 1000
    }
  }
}

const scenario = async (
  name: string,
  options: { readonly count: number; readonly seed: number; readonly perSecond: number },
  fault: Fault & { readonly resumes?: Array<number> }
): Promise<Report> => {
  log(`${name}: preparing ${options.count} events`)
  const ctx = await support.prepareScenario({
    name: `chaos-${name}`,
    seed: options.seed,
    count: options.count,
    extra: {
      TURNVAULT_PARTITIONS: "4",
      TURNVAULT_BATCH_SIZE: "100",
      TURNVAULT_KAFKA_SESSION_TIMEOUT_MS: "6000",
      TURNVAULT_PAUSE_MS: "250",
      REDIS_URL: redis.url,
      // one Redis serves every scenario's database: each caches under its own keys
      TURNVAULT_CACHE_KEY_PREFIX: `chaos-${name}-${Date.now()}:`
    }
  })
  const spawn = async (i: number) => {
    const child = await support.spawnTurnvault({ name: `${name}-${i}`, dir: ctx.dir, env: ctx.env })
    await child.waitHealthy(120_000)
    return child
  }
  let spawned = 0
  const service: Service = {
    current: await spawn(spawned++),
    restart: async () => {
      service.current = await spawn(spawned++)
    },
    peers: []
  }
  const watch = watchCommits(ctx)
  const messages = [...(fault.poison ?? []), ...ctx.workload.lines]
  const feeding = stream(ctx.brokers, ctx.topics.turnEvents, messages, options.perSecond)
  const faults = await fault.inject(ctx, service)
  await feeding
  if (!service.current.isRunning()) await service.restart()
  await support.waitGroupCaughtUp(ctx.brokers, ctx.group, [ctx.topics.turnEvents, ctx.topics.byCustomer], {
    timeoutMs: 240_000,
    describe: () => service.current.stderrPath
  })
  const longestStallS = await watch.stop()
  for (const peer of service.peers) await peer.stop()
  await service.current.stop()

  const reference = await ctx.referencePromise
  const actual = await support.databaseExport(ctx.dir, ctx.database.url)
  const diff = (key: "sessions" | "profile" | "records") => support.diffRows(reference[key], actual[key])
  const records = diff("records")
  const mismatched =
    diff("sessions").missing.length +
    diff("sessions").extra.length +
    diff("profile").missing.length +
    diff("profile").extra.length
  // every turn's record reached the output topic (at least once: consumers de-duplicate by turn_id)
  const published = new Set(
    (await kcatConsume(ctx.brokers, ctx.topics.turnRecords, { timeoutMs: 120_000 })).map(
      (m) => m.headers.turn_id
    )
  )
  const unpublished = reference.records.filter((r) => !published.has(r.turn_id)).length
  const dead = await kcatConsume(ctx.brokers, ctx.topics.dlq, { timeoutMs: 120_000 })
  const expected = countBy([
    ...reference.dlq.map((d) => String(d.reason)),
    ...(fault.poison ?? []).map((p) => p.reason)
  ])
  await ctx.database.drop()
  return {
    scenario: name,
    events: messages.length,
    faults,
    lost: records.missing.length + unpublished,
    duplicated: support.duplicateTurnRecords(actual.records).length,
    mismatched: mismatched + records.extra.length,
    dlq: countBy(dead.map((m) => m.headers.reason ?? "none")),
    dlqExpected: expected,
    longestStallS,
    resumeS: fault.resumes ?? []
  }
}

const randomBetween = (low: number, high: number) => low + Math.random() * (high - low)

const sigkill = (kills: number): Fault => ({
  inject: async (_ctx, service) => {
    for (let i = 0; i < kills; i++) {
      await sleep(randomBetween(300, 1_500))
      await service.current.kill()
      await service.restart()
    }
    return kills
  }
})

/** A second member of the group, frozen (SIGSTOP) past its session timeout, then resumed. */
const sigstop = (pauses: number, frozenMs: number): Fault => ({
  inject: async (ctx, service) => {
    const peer = await support.spawnTurnvault({ name: "sigstop-peer", dir: ctx.dir, env: ctx.env })
    service.peers.push(peer)
    await peer.waitHealthy(120_000)
    for (let i = 0; i < pauses; i++) {
      await sleep(randomBetween(1_000, 3_000))
      peer.pause()
      // past the 6 s session timeout: the group moves its partitions to the other member meanwhile
      await sleep(frozenMs)
      peer.resume()
    }
    return pauses
  }
})

const brokerRestart = (restarts: number, downMs: number): Fault & { resumes: Array<number> } => {
  const resumes: Array<number> = []
  return {
    resumes,
    inject: async (ctx) => {
      const watch = watchCommits(ctx)
      for (let i = 0; i < restarts; i++) {
        await sleep(2_000)
        await kafka.stop()
        await sleep(downMs)
        await kafka.start()
        resumes.push((await watch.nextCommit()) / 1000)
      }
      await watch.stop()
      return restarts
    }
  }
}

const postgresStop = (downMs: number): Fault => ({
  inject: async () => {
    await sleep(2_000)
    await postgres.stop()
    await sleep(downMs)
    await postgres.start()
    return 1
  }
})

const backendKills = (forMs: number): Fault => ({
  inject: async (ctx) => {
    let killed = 0
    const until = Date.now() + forMs
    await sleep(1_000)
    // every fifth round all of them; the others only those that went idle in the last 50 ms,
    // right after a COMMIT, looked for every 20 ms
    for (let round = 0; Date.now() < until; round++) {
      const any = round % 5 === 0
      killed += await postgres.terminateBackends(ctx.database.name, !any)
      await sleep(any ? randomBetween(100, 600) : 20)
    }
    return killed
  }
})

const redisStop = (downMs: number): Fault => ({
  inject: async () => {
    await sleep(2_000)
    await redis.stop()
    await sleep(downMs)
    await redis.start()
    return 1
  }
})

/** Bad messages of every kind the issue names, each with the DLQ reason it must get. */
const fuzzed = (copies: number): Fault => {
  const valid = (n: number) => ({
    schema_version: 1,
    event_type: "turn.completed",
    event_id: `fuzz-${n}`,
    tenant_id: "fuzz",
    agent_id: "a",
    session_id: `fuzz-s${n}`,
    customer_id: `fuzz-c${n}`,
    occurred_at: "2026-01-01T00:00:00.000Z",
    turn_id: `fuzz-t${n}`,
    turn_number: 1,
    user_message: "hello",
    agent_response: "hi",
    candidate_variables: {},
    matched_rules: [],
    scenario: null,
    tool_executions: [],
    enforcement: null
  })
  const poison: Array<{ key: string | null; value: Buffer; reason: string }> = []
  for (let n = 0; n < copies; n++) {
    const text = JSON.stringify(valid(n))
    const key = `fuzz-s${n}`
    poison.push(
      { key, value: Buffer.from(text.slice(0, Math.floor(text.length / 2))), reason: "malformed_json" },
      {
        key,
        value: Buffer.from(JSON.stringify({ ...valid(n), turn_number: "one" })),
        reason: "schema_violation"
      },
      {
        key,
        value: Buffer.from(JSON.stringify({ ...valid(n), user_message: "x".repeat(1_060_000) })),
        reason: "too_large"
      },
      {
        key,
        value: Buffer.concat([
          Buffer.from(text.slice(0, 20)),
          Buffer.from([0xff, 0xfe]),
          Buffer.from(text.slice(20))
        ]),
        reason: "malformed_json"
      },
      { key, value: Buffer.alloc(0), reason: "malformed_json" },
      { key: null, value: Buffer.from(text), reason: "schema_violation" },
      { key: `not-${key}`, value: Buffer.from(text), reason: "schema_violation" },
      {
        key,
        value: Buffer.from(
          text.replace(
            '"candidate_variables":{}',
            `"candidate_variables":{"v":{"value":${"[".repeat(5_000)}${"]".repeat(5_000)}}}`
          )
        ),
        reason: "schema_violation"
      }
    )
  }
  return { poison, inject: async () => poison.length }
}

const count = quick ? 1_000 : 4_000
const perSecond = quick ? 150 : 200
const plan: ReadonlyArray<readonly [string, Fault]> = [
  ["sigkill", sigkill(quick ? 6 : 20)],
  ["sigstop", sigstop(quick ? 1 : 3, quick ? 8_000 : 10_000)],
  ["broker-restart", brokerRestart(quick ? 1 : 3, 5_000)],
  ["postgres-stop", postgresStop(quick ? 8_000 : 30_000)],
  ["backend-kill", backendKills(quick ? 5_000 : 20_000)],
  ["redis-stop", redisStop(quick ? 4_000 : 10_000)],
  ["fuzz", fuzzed(quick ? 2 : 10)]
]

const reports: Array<Report> = []
try {
  for (const [i, [name, fault]] of plan.entries()) {
    if (only !== undefined && only !== name) continue
    reports.push(await scenario(name, { count, seed: 7_000 + i, perSecond }, fault))
    log(`${name}: ${JSON.stringify(reports.at(-1))}`)
  }
} finally {
  await Promise.all([postgres.destroy(), kafka.destroy(), redis.stop()])
}

const dlqText = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort()
    .map(([k, v]) => `${k} ${v}`)
    .join(", ") || "none"
console.log(
  `\nturnvault chaos${quick ? " --quick" : ""}: ${count} workload events per scenario at ${perSecond}/s, ${((Date.now() - started) / 1000).toFixed(0)} s in all\n`
)
console.log(
  "| scenario | events | faults | lost | duplicated | mismatched | longest stall (s) | resumed after broker start (s) | DLQ by reason (expected) |"
)
console.log("|---|---|---|---|---|---|---|---|---|")
for (const r of reports) {
  console.log(
    `| ${r.scenario} | ${r.events} | ${r.faults} | ${r.lost} | ${r.duplicated} | ${r.mismatched} | ${r.longestStallS.toFixed(1)} | ${
      r.resumeS.map((s) => s.toFixed(1)).join(", ") || "—"
    } | ${dlqText(r.dlq)} (${dlqText(r.dlqExpected)}) |`
  )
}
const failed = reports.filter((r) => r.lost + r.duplicated + r.mismatched > 0)
if (failed.length > 0) {
  console.log(`\nFAILED: ${failed.map((r) => r.scenario).join(", ")} lost, duplicated or mismatched`)
  process.exitCode = 1
}
