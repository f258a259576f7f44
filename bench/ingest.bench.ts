/**
 * The ingest worker beside the turn pipeline (issue 15; background 004's "extraction < 5 s"), on
 * the real broker and PostgreSQL, with a local fake OpenAI-compatible provider that answers every
 * request after an injected latency:
 * - isolation: `turnvault start` drains the bench workload alone, then again, on fresh topics and
 *   a fresh database, while `turnvault ingest` works through the same turns against the slow
 *   provider. Turns/s to durable and the pipeline's CPU per turn, side by side. A slow model must
 *   not slow the pipeline: the worker is another process, in another consumer group.
 * - extraction latency: paced live turns (each names a website) through both processes; per turn,
 *   its occurred_at (the send time) to its ingestion result being recorded, which includes the
 *   pipeline, the task's topic, one extraction and one summary request, and the result.
 *
 *   npx tsx bench/ingest.bench.ts
 *
 * Knobs: BENCH_EVENTS (30000), BENCH_LLM_LATENCY_MS (1000), BENCH_LIVE_RATE (20 turns/s),
 * BENCH_LIVE_SECONDS (20), BENCH_TENANT_CONCURRENCY (64: the live turns are one tenant's, and at
 * 1 s a request, 20 turns/s need 20 sessions in flight). Needs what `npm run bench` needs
 * (PostgreSQL; Kafka from KAFKA_BROKERS or scripts/kafka/up.sh) and a built dist (`npm run build`).
 */
import { execFileSync } from "node:child_process"
import { mkdtemp, writeFile } from "node:fs/promises"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { readFileSync } from "node:fs"
import { topicNames } from "../streams/topics"
import { freePort, waitFor } from "../test/support/child"
import { freshDatabase, queryRows } from "../test/support/postgres"
import {
  kafkaEnv,
  spawnTurnvault,
  turnvault,
  type TurnvaultProcess,
  uniqueName
} from "../test/support/turnvaultProcess"
import { brokerList, createTopics, deleteTopics, kafkaFor, produceAll } from "./lib/kafka"
import { distribution, knob, load, log, round, wallMs } from "./lib/measure"
import { makeWorkload, PARTITIONS, workloadDefinitions } from "./lib/workload"

const events = knob("BENCH_EVENTS", 30_000)
const latencyMs = knob("BENCH_LLM_LATENCY_MS", 1_000)
const liveRate = knob("BENCH_LIVE_RATE", 20)
const liveSeconds = knob("BENCH_LIVE_SECONDS", 20)
const tenantConcurrency = knob("BENCH_TENANT_CONCURRENCY", 64)
const rounds = knob("BENCH_ROUNDS", 2)

/** utime + stime of a process, in seconds (/proc/PID/stat, clock ticks of 1/100 s). */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}

const fakeProvider = async () => {
  let requests = 0
  const server = createServer((request, response) => {
    let text = ""
    request.on("data", (chunk) => {
      text += chunk
    })
    request.on("end", () => {
      requests += 1
      const body = JSON.parse(text)
      const user: string = body.messages[1].content
      const website = /website is (https?:\/\/[^\s,]+)/.exec(user)?.[1]
      const content =
        body.response_format === undefined
          ? "The customer updated their details."
          : JSON.stringify({
              fields: website === undefined ? [] : [{ name: "website", value: website, confidence: 0.95 }]
            })
      setTimeout(() => {
        response.writeHead(200, { "content-type": "application/json" })
        response.end(
          JSON.stringify({
            model: "fake-bench-model",
            choices: [{ message: { role: "assistant", content } }],
            usage: { prompt_tokens: 300, completion_tokens: 30 }
          })
        )
      }, latencyMs)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => {
      server.closeAllConnections()
      server.close()
    }
  }
}

const main = async () => {
  const brokers = await brokerList()
  const provider = await fakeProvider()
  const dir = await mkdtemp(join(tmpdir(), "turnvault-bench-ingest-"))
  const defsPath = join(dir, "defs.json")
  await writeFile(defsPath, JSON.stringify(workloadDefinitions()))
  const workload = makeWorkload(events)
  log(
    `workload: ${workload.stats.events} events, ${workload.stats.turns} turns; provider latency ${latencyMs} ms`
  )

  /** One setup: fresh topics and database, the pipeline, and the worker when `ingest`. */
  const setup = async (label: string, ingest: boolean) => {
    const db = await freshDatabase()
    const prefix = `${uniqueName(`bench-ingest-${label}`)}.`
    await createTopics(brokers, prefix, PARTITIONS)
    const env = kafkaEnv({
      brokers: brokers.join(","),
      databaseUrl: db.url,
      prefix,
      group: uniqueName(`bench-ingest-${label}`),
      extra: { TURNVAULT_PARTITIONS: String(PARTITIONS), TURNVAULT_LOG_LEVEL: "warning" }
    })
    await turnvault(["definitions", "import", defsPath], { DATABASE_URL: db.url })
    const pipeline = await spawnTurnvault({ name: `${label}-pipeline`, dir, env })
    await pipeline.waitHealthy()
    let worker: TurnvaultProcess | undefined
    if (ingest) {
      const port = await freePort()
      worker = await spawnTurnvault({
        name: `${label}-ingest`,
        dir,
        args: ["ingest"],
        port,
        env: {
          ...env,
          TURNVAULT_INGEST_HTTP_PORT: String(port),
          TURNVAULT_INGEST_GROUP: uniqueName(`bench-ingest-worker-${label}`),
          TURNVAULT_LLM_BASE_URL: provider.url,
          TURNVAULT_LLM_MODEL: "fake-bench-model",
          TURNVAULT_INGEST_TENANT_CONCURRENCY: String(tenantConcurrency)
        }
      })
      await worker.waitHealthy()
    }
    const stop = async () => {
      await worker?.kill()
      await pipeline.kill()
      await db.drop()
      await deleteTopics(brokers, prefix)
    }
    return { db, prefix, pipeline, worker, stop }
  }

  /** Drains the workload: produce, then wait for every turn record; turns/s and pipeline CPU. */
  const drain = async (label: string, ingest: boolean) => {
    const run = await setup(label, ingest)
    try {
      const cpu = cpuSeconds(run.pipeline.pid)
      const workerCpu = run.worker === undefined ? 0 : cpuSeconds(run.worker.pid)
      const started = wallMs()
      await produceAll(brokers, topicNames(run.prefix).turnEvents, workload.lines)
      await waitFor(
        `${label}: every turn durable`,
        async () => {
          const [row] = await queryRows<{ n: number }>(
            run.db.url,
            "SELECT count(*)::int AS n FROM turn_records"
          )
          return (row?.n ?? 0) >= workload.stats.turns ? true : undefined
        },
        { timeoutMs: 600_000, intervalMs: 100 }
      )
      const seconds = (wallMs() - started) / 1000
      const pipelineCpu = cpuSeconds(run.pipeline.pid) - cpu
      const workerCpuSeconds = run.worker === undefined ? 0 : cpuSeconds(run.worker.pid) - workerCpu
      const [results] = await queryRows<{ n: number }>(
        run.db.url,
        "SELECT count(*)::int AS n FROM ingestion_results"
      )
      return {
        turns_per_s: Math.round(workload.stats.turns / seconds),
        pipeline_cpu_us_per_turn: Math.round((pipelineCpu * 1e6) / workload.stats.turns),
        seconds: round(seconds, 2),
        /** The worker's share of the machine's two cores over the drain window. */
        worker_cpu_cores: round(workerCpuSeconds / seconds, 2),
        extractions_done_meanwhile: results?.n ?? 0,
        load: load()
      }
    } finally {
      await run.stop()
    }
  }

  /** Paced live turns through both processes: occurred_at (send time) to the ingestion result. */
  const live = async () => {
    const run = await setup("live", true)
    const producer = kafkaFor(brokers, "bench-ingest-live").producer()
    await producer.connect()
    try {
      const total = liveRate * liveSeconds
      const sessions = 200
      // a tenant and agent the workload's definitions cover
      const first = JSON.parse(workload.lines[0]!.value) as { tenant_id: string; agent_id: string }
      const started = wallMs()
      for (let i = 0; i < total; i++) {
        const due = started + (i * 1000) / liveRate
        const wait = due - wallMs()
        if (wait > 0) await new Promise((r) => setTimeout(r, wait))
        const session = `live-s${i % sessions}`
        const turn = Math.floor(i / sessions) + 1
        const event = {
          schema_version: 1,
          event_type: "turn.completed",
          event_id: `live-e${i}`,
          tenant_id: first.tenant_id,
          agent_id: first.agent_id,
          session_id: session,
          customer_id: `live-c${i % sessions}`,
          occurred_at: new Date().toISOString(),
          turn_id: `${session}-t${turn}`,
          turn_number: turn,
          user_message: `Our new website is https://live-${i}.example.com, please note it.`,
          agent_response: "Noted.",
          candidate_variables: {},
          matched_rules: [],
          scenario: null,
          tool_executions: [],
          enforcement: null
        }
        await producer.send({
          topic: topicNames(run.prefix).turnEvents,
          messages: [{ key: session, value: JSON.stringify(event) }]
        })
      }
      await waitFor(
        "every live turn's extraction",
        async () => {
          const [row] = await queryRows<{ n: number }>(
            run.db.url,
            "SELECT count(*)::int AS n FROM ingestion_results"
          )
          return (row?.n ?? 0) >= total ? true : undefined
        },
        { timeoutMs: 300_000, intervalMs: 200 }
      )
      const rows = await queryRows<{ ms: number }>(
        run.db.url,
        `SELECT extract(epoch FROM (r.completed_at - t.occurred_at)) * 1000 AS ms
         FROM ingestion_results r JOIN turn_records t ON t.tenant_id = r.tenant_id AND t.turn_id = r.turn_id`
      )
      const [inferred] = await queryRows<{ n: number }>(
        run.db.url,
        "SELECT count(*)::int AS n FROM profile_fields WHERE source_item_type = 'inference'"
      )
      const latency = distribution(rows.map((r) => Number(r.ms)))
      return {
        turns: total,
        rate: liveRate,
        turn_to_extraction_ms: latency,
        inferred_rows: inferred?.n ?? 0,
        load: load()
      }
    } finally {
      await producer.disconnect()
      await run.stop()
    }
  }

  // alternating rounds (alone, beside, alone, beside, ...) so that machine noise falls on both
  const aloneRuns: Array<Awaited<ReturnType<typeof drain>>> = []
  const besideRuns: Array<Awaited<ReturnType<typeof drain>>> = []
  for (let r = 1; r <= rounds; r++) {
    const a = await drain(`alone${r}`, false)
    aloneRuns.push(a)
    log(`round ${r}, pipeline alone: ${a.turns_per_s} turns/s, ${a.pipeline_cpu_us_per_turn} µs CPU/turn`)
    const b = await drain(`beside${r}`, true)
    besideRuns.push(b)
    log(
      `round ${r}, beside a slow worker: ${b.turns_per_s} turns/s, ${b.pipeline_cpu_us_per_turn} µs CPU/turn`
    )
  }
  const median = (values: ReadonlyArray<number>) => {
    const sorted = [...values].sort((x, y) => x - y)
    const mid = Math.floor(sorted.length / 2)
    return sorted.length % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2)
  }
  const summary = (runs: typeof aloneRuns) => ({
    turns_per_s: median(runs.map((r) => r.turns_per_s)),
    pipeline_cpu_us_per_turn: median(runs.map((r) => r.pipeline_cpu_us_per_turn)),
    extractions_done_meanwhile: median(runs.map((r) => r.extractions_done_meanwhile)),
    worker_cpu_cores: median(runs.map((r) => r.worker_cpu_cores * 100)) / 100,
    rounds: runs
  })
  const alone = summary(aloneRuns)
  const beside = summary(besideRuns)
  const liveRun = await live()
  log(
    `live: turn → extraction p50 ${liveRun.turn_to_extraction_ms.p50} ms, p99 ${liveRun.turn_to_extraction_ms.p99} ms`
  )
  provider.close()

  const result = {
    parameters: {
      events,
      turns: workload.stats.turns,
      latencyMs,
      liveRate,
      liveSeconds,
      tenantConcurrency,
      rounds,
      partitions: PARTITIONS
    },
    git_revision: execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim(),
    pipeline_alone: alone,
    pipeline_beside_slow_worker: beside,
    live: liveRun,
    provider_requests: provider.requests()
  }
  console.log(JSON.stringify(result, null, 2))
  console.log(
    [
      "",
      `medians of ${rounds} alternating rounds, ${workload.stats.turns} turns each:`,
      "| run | turns/s to durable | pipeline CPU µs/turn | extractions done meanwhile | worker CPU (cores) |",
      "| --- | ---: | ---: | ---: | ---: |",
      `| pipeline alone | ${alone.turns_per_s} | ${alone.pipeline_cpu_us_per_turn} | — | — |`,
      `| pipeline + ingest worker (model ${latencyMs} ms) | ${beside.turns_per_s} | ${beside.pipeline_cpu_us_per_turn} | ${beside.extractions_done_meanwhile} | ${beside.worker_cpu_cores} |`,
      "",
      `live ${liveRate} turns/s for ${liveSeconds} s, model ${latencyMs} ms per request (extraction + summary):`,
      `turn occurred → extraction recorded: p50 ${liveRun.turn_to_extraction_ms.p50} ms, p95 ${liveRun.turn_to_extraction_ms.p95} ms, p99 ${liveRun.turn_to_extraction_ms.p99} ms, max ${liveRun.turn_to_extraction_ms.max} ms (target < 5000)`
    ].join("\n")
  )
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
