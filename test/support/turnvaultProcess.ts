/**
 * The e2e harness around real turnvault processes (`node bin/turnvault.mjs ...`):
 * - spawn `start` children with a given environment, stdout/stderr captured to files;
 *   stop them with SIGTERM, kill them with SIGKILL, freeze/thaw them with SIGSTOP/SIGCONT;
 * - wait (always bounded) for `/healthz`, for N committed events on `/metrics`, or for the
 *   consumer group to have committed up to the end of the input topic (across restarts);
 * - run one-shot commands (`definitions import`, `export`, `process`, `verify`);
 * - a realistic workload file (synthetic traffic plus injected out-of-order turns and schema
 *   violations) and the comparison of two exports as sets of canonical JSON lines.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, mkdirSync } from "node:fs"
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { Kafka, logLevel } from "kafkajs"
import { syntheticDefinitions, syntheticRequirements } from "../../src/dev/definitions"
import { defaultTrafficOptions, makeSyntheticTraffic } from "../../src/dev/SyntheticTraffic"
import { topicNames } from "../../streams/topics"
import { freePort, stopChild, waitFor } from "./child"
import type { KeyedLine } from "./kcat"
import { ensureKafka } from "./kafka"
import { freshDatabase } from "./postgres"

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")
const bin = path.join(repoRoot, "bin", "turnvault.mjs")

// ---------------------------------------------------------------------------------------------
// small utilities

/** A unique, Kafka-safe name part for topics and groups. */
export const uniqueName = (label: string) =>
  `e2e-${label}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`

/** A directory for one test's files and child logs (kept after the run for debugging). */
export const workDir = async (label: string) => {
  const root = path.join(tmpdir(), "turnvault-e2e")
  mkdirSync(root, { recursive: true })
  return mkdtemp(path.join(root, `${label}-`))
}

/**
 * The environment of a child: this process's environment without anything that selects a
 * backend or configures turnvault (so `process` really runs in memory), nor vitest's own
 * variables, plus `env`.
 */
export const childEnv = (env: Record<string, string | undefined>): NodeJS.ProcessEnv => {
  const out: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (
      k.startsWith("TURNVAULT_") ||
      k.startsWith("VITEST") ||
      k === "KAFKA_BROKERS" ||
      k === "DATABASE_URL" ||
      k === "REDIS_URL" ||
      k === "NODE_OPTIONS"
    )
      continue
    out[k] = v
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v
  return out
}

// ---------------------------------------------------------------------------------------------
// one-shot commands

export interface CommandResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `turnvault <args>` to completion (bounded). */
export const runTurnvault = (
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined>,
  options: { readonly timeoutMs?: number } = {}
): Promise<CommandResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: repoRoot,
      env: childEnv(env),
      stdio: ["ignore", "pipe", "pipe"]
    })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    const timeoutMs = options.timeoutMs ?? 120_000
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`turnvault ${args.join(" ")} timed out after ${timeoutMs} ms\n${Buffer.concat(err)}`))
    }, timeoutMs)
    child.stdout.on("data", (c: Buffer) => out.push(c))
    child.stderr.on("data", (c: Buffer) => err.push(c))
    child.on("error", (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8")
      })
    })
  })

/** Like `runTurnvault` but fails unless the command exits 0. */
export const turnvault = async (
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined>,
  options: { readonly timeoutMs?: number } = {}
): Promise<CommandResult> => {
  const result = await runTurnvault(args, env, options)
  if (result.code !== 0) {
    throw new Error(
      `turnvault ${args.join(" ")} exited ${result.code ?? result.signal}\nstdout: ${result.stdout.slice(-4000)}\nstderr: ${result.stderr.slice(-4000)}`
    )
  }
  return result
}

// ---------------------------------------------------------------------------------------------
// long-running `start` children

export interface TurnvaultProcess {
  readonly name: string
  readonly pid: number
  readonly port: number
  readonly stdoutPath: string
  readonly stderrPath: string
  readonly child: ChildProcess
  /** Settles when the process has exited. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  readonly isRunning: () => boolean
  readonly signal: (signal: NodeJS.Signals) => void
  /** SIGTERM, then waits (bounded) for the exit; SIGKILL if it does not come. */
  readonly stop: (timeoutMs?: number) => Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGKILL and wait for the exit. */
  readonly kill: () => Promise<void>
  readonly pause: () => void
  readonly resume: () => void
  readonly metrics: () => Promise<string>
  /** `turnvault_committed_events_total` of this process (since it started). */
  readonly committed: () => Promise<number>
  readonly waitHealthy: (timeoutMs?: number) => Promise<void>
  readonly waitCommitted: (n: number, timeoutMs?: number) => Promise<void>
  /** The tail of the captured logs. */
  readonly logs: (chars?: number) => Promise<string>
}

export interface SpawnOptions {
  readonly name: string
  readonly dir: string
  readonly env: Record<string, string | undefined>
  readonly args?: ReadonlyArray<string>
  readonly port?: number
}

/** Sums every sample of a metric (all label sets) in a Prometheus exposition. */
export const metricValue = (exposition: string, name: string): number => {
  let total = 0
  for (const line of exposition.split("\n")) {
    if (line.startsWith("#")) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (match !== null && match[1] === name) total += Number(match[3])
  }
  return total
}

const fetchText = async (url: string, timeoutMs = 2_000) => {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`)
  return response.text()
}

const tail = async (file: string, chars: number) => {
  const text = await readFile(file, "utf8").catch(() => "")
  return text.slice(-chars)
}

export const spawnTurnvault = async (options: SpawnOptions): Promise<TurnvaultProcess> => {
  const port = options.port ?? (await freePort())
  const stdoutPath = path.join(options.dir, `${options.name}.stdout.log`)
  const stderrPath = path.join(options.dir, `${options.name}.stderr.log`)
  const stdoutFile = createWriteStream(stdoutPath, { flags: "a" })
  const stderrFile = createWriteStream(stderrPath, { flags: "a" })
  const child = spawn(process.execPath, [bin, ...(options.args ?? ["start"])], {
    cwd: repoRoot,
    env: childEnv({ ...options.env, TURNVAULT_HTTP_PORT: String(port) }),
    stdio: ["ignore", "pipe", "pipe"]
  })
  child.stdout!.pipe(stdoutFile)
  child.stderr!.pipe(stderrFile)
  let running = true
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => {
      running = false
      resolve({ code, signal })
    })
    child.on("error", () => {
      running = false
      resolve({ code: null, signal: null })
    })
  })
  const base = `http://127.0.0.1:${port}`
  const logs = async (chars = 3_000) =>
    `--- ${options.name} stdout (${stdoutPath})\n${await tail(stdoutPath, chars)}\n--- ${options.name} stderr (${stderrPath})\n${await tail(stderrPath, chars)}`
  const self: TurnvaultProcess = {
    name: options.name,
    pid: child.pid ?? -1,
    port,
    stdoutPath,
    stderrPath,
    child,
    exited,
    isRunning: () => running,
    signal: (signal) => {
      if (running) child.kill(signal)
    },
    stop: async (timeoutMs = 45_000) => {
      if (running) await stopChild(child, { graceMs: timeoutMs })
      return exited
    },
    kill: async () => {
      if (running) child.kill("SIGKILL")
      await exited
    },
    pause: () => {
      if (running) child.kill("SIGSTOP")
    },
    resume: () => {
      if (running) child.kill("SIGCONT")
    },
    metrics: () => fetchText(`${base}/metrics`),
    committed: async () =>
      metricValue(await fetchText(`${base}/metrics`), "turnvault_committed_events_total"),
    waitHealthy: async (timeoutMs = 60_000) => {
      await waitFor(
        `${options.name} /healthz`,
        async () => {
          if (!running) throw new Error(`${options.name} exited: ${JSON.stringify(await exited)}`)
          await fetchText(`${base}/healthz`, 1_000)
          return true
        },
        { timeoutMs, intervalMs: 200 }
      ).catch(async (error: Error) => {
        throw new Error(`${error.message}\n${await logs()}`)
      })
    },
    waitCommitted: async (n, timeoutMs = 120_000) => {
      let seen = -1
      await waitFor(
        `${options.name} to commit ${n} events`,
        async () => {
          if (!running) throw new Error(`${options.name} exited`)
          seen = await self.committed()
          return seen >= n ? true : undefined
        },
        { timeoutMs, intervalMs: 250, describe: () => `committed so far: ${seen}` }
      ).catch(async (error: Error) => {
        throw new Error(`${error.message}\n${await logs()}`)
      })
    },
    logs
  }
  return self
}

// ---------------------------------------------------------------------------------------------
// the consumer group's view, from the broker (survives restarts, unlike /metrics)

export const kafkaAdmin = async (brokers: string) => {
  const kafka = new Kafka({
    clientId: "turnvault-e2e",
    brokers: brokers.split(","),
    logLevel: logLevel.NOTHING
  })
  const admin = kafka.admin()
  await admin.connect()
  return { kafka, admin }
}

export interface GroupPosition {
  readonly committed: number
  readonly end: number
  /** Per partition: [committed, end]. */
  readonly partitions: ReadonlyArray<readonly [number, number]>
}

/** Sum of the group's committed offsets and of the topic's end offsets. */
export const groupPosition = async (
  admin: Awaited<ReturnType<typeof kafkaAdmin>>["admin"],
  group: string,
  topic: string
): Promise<GroupPosition> => {
  const ends = await admin.fetchTopicOffsets(topic)
  const [fetched] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
  const committedBy = new Map((fetched?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
  const partitions = ends
    .map((e) => [e.partition, Math.max(0, committedBy.get(e.partition) ?? -1), Number(e.high)] as const)
    .sort((a, b) => a[0] - b[0])
  return {
    committed: partitions.reduce((s, p) => s + p[1], 0),
    end: partitions.reduce((s, p) => s + p[2], 0),
    partitions: partitions.map((p) => [p[1], p[2]] as const)
  }
}

/**
 * Waits until the group has committed every partition of each topic up to its end offset, one
 * topic after the other in pipeline order (the input, then the by-customer topic it feeds), so
 * an end offset is read only once the stage before has produced everything.
 */
export const waitGroupCaughtUp = async (
  brokers: string,
  group: string,
  topics: string | ReadonlyArray<string>,
  options: {
    readonly timeoutMs: number
    readonly describe?: () => string
    /** Committed must equal the end offset (not just reach it: an offset set beyond the end). */
    readonly exact?: boolean
  }
) => {
  const { admin } = await kafkaAdmin(brokers)
  let last: GroupPosition | undefined
  try {
    for (const topic of typeof topics === "string" ? [topics] : topics) {
      last = await waitFor(
        `group ${group} to reach the end of ${topic}`,
        async () => {
          last = await groupPosition(admin, group, topic)
          const done = last.partitions.every(([c, e]) => (options.exact === true ? c === e : c >= e))
          return last.end > 0 && done ? last : undefined
        },
        {
          timeoutMs: options.timeoutMs,
          intervalMs: 500,
          describe: () => `position: ${JSON.stringify(last)}\n${options.describe?.() ?? ""}`
        }
      )
    }
    return last
  } finally {
    await admin.disconnect()
  }
}

// ---------------------------------------------------------------------------------------------
// the workload

/** Kafka's default partitioner for keyed records (Java's murmur2, as kafkajs and kcat's murmur2_random). */
export const murmur2 = (text: string): number => {
  const key = Buffer.from(text, "utf8")
  const m = 0x5bd1e995
  const length = key.length
  let h = 0x9747b28c ^ length
  const tail = length & ~3
  for (let i = 0; i < tail; i += 4) {
    let k = key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24)
    k = Math.imul(k, m)
    k ^= k >>> 24
    k = Math.imul(k, m)
    h = Math.imul(h, m)
    h ^= k
  }
  const rest = length & 3
  if (rest === 3) h ^= key[tail + 2]! << 16
  if (rest >= 2) h ^= key[tail + 1]! << 8
  if (rest >= 1) {
    h ^= key[tail]!
    h = Math.imul(h, m)
  }
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h
}

export const partitionOf = (key: string, partitions: number) => (murmur2(key) & 0x7fffffff) % partitions

export interface Workload {
  readonly definitions: ReadonlyArray<object>
  readonly requirements: ReadonlyArray<object>
  readonly lines: ReadonlyArray<KeyedLine>
  readonly injected: { readonly outOfOrder: number; readonly schemaViolations: number }
}

/**
 * About `count` lines of synthetic traffic (malformed lines, exact duplicates, invalid values,
 * unknown fields, session ends, case closures) with injected out-of-order turns (a lower
 * turn_number and a new turn_id, right after a later turn of the same session) and schema
 * violations (a missing or ill-typed required field).
 */
export const makeWorkload = (options: {
  readonly seed: number
  readonly count: number
  /** Partitions of the input topic (default 8, turnvault's default). */
  readonly partitions?: number
  /**
   * `per-partition` (default): a customer's sessions all land on one input partition, so a run
   * with the input spread by session compares with the file-order `process` line for line.
   * `shared`: the generator's customers as they are, their sessions on any partition.
   */
  readonly customers?: "per-partition" | "shared"
}): Workload => {
  const trafficOptions = {
    ...defaultTrafficOptions,
    seed: options.seed,
    customersPerTenant: 25,
    concurrentSessions: 120,
    turnsPerSession: 6,
    invalidShare: 0.08,
    malformedShare: 0.01,
    duplicateShare: 0.02
  }
  const traffic = makeSyntheticTraffic(trafficOptions)
  const lines: Array<KeyedLine> = []
  let outOfOrder = 0
  let schemaViolations = 0
  let i = 0
  while (lines.length < options.count) {
    i += 1
    const line = traffic.next()
    lines.push(line)
    let event: Record<string, any>
    try {
      event = JSON.parse(line.value)
    } catch {
      continue
    }
    if (event.event_type !== "turn.completed") continue
    if (i % 97 === 0 && event.turn_number >= 2) {
      outOfOrder += 1
      lines.push({
        key: line.key,
        value: JSON.stringify({
          ...event,
          event_id: `${event.event_id}-late`,
          turn_id: `${event.turn_id}-late`,
          turn_number: event.turn_number - 1
        })
      })
    } else if (i % 131 === 0) {
      schemaViolations += 1
      const broken: Record<string, any> = { ...event, event_id: `${event.event_id}-bad` }
      switch (schemaViolations % 4) {
        case 0:
          delete broken.customer_id
          break
        case 1:
          broken.turn_number = 0
          break
        case 2:
          broken.candidate_variables = "not-an-object"
          break
        default:
          broken.occurred_at = "yesterday"
      }
      lines.push({ key: line.key, value: JSON.stringify(broken) })
    }
  }
  // A customer's sessions all land on one partition. Across partitions there is no order, so a
  // customer shared by sessions on two partitions would make the statuses (`unchanged` vs
  // `persisted`), the supersede chain and the session hashes depend on the interleaving, and no
  // run could be compared with the file-order `process` reference.
  const partitions = options.partitions ?? 8
  const placed =
    (options.customers ?? "per-partition") === "shared"
      ? lines
      : lines.map((line) => {
          let event: Record<string, any>
          try {
            event = JSON.parse(line.value)
          } catch {
            return line
          }
          if (typeof event.customer_id !== "string") return line
          const customer = `${event.customer_id}-p${partitionOf(line.key, partitions)}`
          return { key: line.key, value: JSON.stringify({ ...event, customer_id: customer }) }
        })
  return {
    definitions: syntheticDefinitions(traffic.tenants, traffic.agents),
    requirements: syntheticRequirements(traffic.tenants, traffic.agents),
    lines: placed,
    injected: { outOfOrder, schemaViolations }
  }
}

/**
 * A random interleaving of the lines that keeps each key's (session's) lines in their order: what
 * producers on many machines may publish, where one customer's sessions race each other.
 */
export const interleaveByKey = <L extends { readonly key: string }>(
  lines: ReadonlyArray<L>,
  seed: number
): Array<L> => {
  const queues = new Map<string, Array<L>>()
  for (const line of lines) {
    const queue = queues.get(line.key) ?? []
    queues.set(line.key, queue)
    queue.push(line)
  }
  // shuffle one slot per line, named by its key; each slot then takes its key's next line
  const slots = lines.map((line) => line.key)
  let state = seed >>> 0
  const random = () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0
    return state / 2 ** 32
  }
  for (let i = slots.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[slots[i], slots[j]] = [slots[j]!, slots[i]!]
  }
  return slots.map((key) => queues.get(key)!.shift()!)
}

export interface WorkloadFiles {
  readonly definitions: string
  readonly requirements: string
  readonly events: string
}

export const writeWorkload = async (dir: string, workload: Workload): Promise<WorkloadFiles> => {
  const definitions = path.join(dir, "defs.json")
  const requirements = path.join(dir, "reqs.json")
  const events = path.join(dir, "events.jsonl")
  await writeFile(definitions, JSON.stringify(workload.definitions))
  await writeFile(requirements, JSON.stringify(workload.requirements))
  await writeFile(events, `${workload.lines.map((l) => l.value).join("\n")}\n`)
  return { definitions, requirements, events }
}

// ---------------------------------------------------------------------------------------------
// exports and their comparison

const canonical = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(canonical)
    : value !== null && typeof value === "object"
      ? Object.fromEntries(
          Object.keys(value as object)
            .sort()
            .map((k) => [k, canonical((value as Record<string, unknown>)[k])])
        )
      : value

/** A JSON value as a string with sorted keys: equal values give equal strings. */
export const canonicalJson = (value: unknown) => JSON.stringify(canonical(value))

export const readJsonl = async (file: string): Promise<Array<Record<string, any>>> =>
  (await readFile(file, "utf8").catch(() => ""))
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, any>)

export interface StoreExport {
  readonly dir: string
  readonly sessions: Array<Record<string, any>>
  readonly profile: Array<Record<string, any>>
  readonly records: Array<Record<string, any>>
  readonly dlq: Array<Record<string, any>>
}

export const readExport = async (dir: string): Promise<StoreExport> => ({
  dir,
  sessions: await readJsonl(path.join(dir, "sessions.jsonl")),
  profile: await readJsonl(path.join(dir, "profile_fields.jsonl")),
  records: await readJsonl(path.join(dir, "turn_records.jsonl")),
  dlq: await readJsonl(path.join(dir, "dlq.jsonl"))
})

/** `process` on the embedded defaults (in memory): the reference a Kafka run must equal. */
/**
 * `process` of the workload, on the embedded stores unless `env` names a database; with
 * `requirements`, the workload's scenario requirements are imported first.
 */
export const referenceExport = async (
  dir: string,
  files: WorkloadFiles,
  options: { readonly env?: Record<string, string>; readonly requirements?: boolean } = {}
): Promise<StoreExport> => {
  const out = path.join(dir, "reference")
  await turnvault(
    [
      "process",
      "--definitions",
      files.definitions,
      ...(options.requirements === true ? ["--requirements", files.requirements] : []),
      "--input",
      files.events,
      "--export",
      out
    ],
    options.env ?? {},
    { timeoutMs: 180_000 }
  )
  return readExport(out)
}

/** `export` from the given PostgreSQL database. */
export const databaseExport = async (
  dir: string,
  databaseUrl: string,
  name = "export"
): Promise<StoreExport> => {
  const out = path.join(dir, name)
  await turnvault(["export", "--export", out], { DATABASE_URL: databaseUrl }, { timeoutMs: 120_000 })
  return readExport(out)
}

export interface SetDiff {
  readonly missing: ReadonlyArray<string>
  readonly extra: ReadonlyArray<string>
  readonly duplicates: ReadonlyArray<string>
}

/**
 * Multiset difference of two row lists (as canonical JSON): what `actual` lacks, what it adds, and
 * which rows it holds more than once where `expected` does not.
 */
export const diffRows = (expected: ReadonlyArray<unknown>, actual: ReadonlyArray<unknown>): SetDiff => {
  const count = (rows: ReadonlyArray<unknown>) => {
    const m = new Map<string, number>()
    for (const r of rows) {
      const k = canonicalJson(r)
      m.set(k, (m.get(k) ?? 0) + 1)
    }
    return m
  }
  const e = count(expected)
  const a = count(actual)
  const missing: Array<string> = []
  const extra: Array<string> = []
  const duplicates: Array<string> = []
  for (const [k, n] of e) for (let i = a.get(k) ?? 0; i < n; i++) missing.push(k)
  for (const [k, n] of a) {
    for (let i = e.get(k) ?? 0; i < n; i++) extra.push(k)
    if (n > 1 && n > (e.get(k) ?? 0)) duplicates.push(k)
  }
  return { missing, extra, duplicates }
}

/** Compares sessions, profile fields and turn records; returns a readable report (empty = equal). */
export const compareExports = (expected: StoreExport, actual: StoreExport): string => {
  const parts: Array<string> = []
  for (const key of ["sessions", "profile", "records"] as const) {
    const d = diffRows(expected[key], actual[key])
    if (d.missing.length + d.extra.length > 0) {
      parts.push(
        `${key}: expected ${expected[key].length} rows, got ${actual[key].length}; ${d.missing.length} missing, ${d.extra.length} extra\n` +
          `  missing e.g.: ${d.missing.slice(0, 3).join("\n    ")}\n  extra e.g.: ${d.extra.slice(0, 3).join("\n    ")}`
      )
    }
  }
  return parts.length === 0 ? "" : `${parts.join("\n")}\n(exports: ${expected.dir} vs ${actual.dir})`
}

/** Turn records that occur more than once by (tenant_id, turn_id). */
export const duplicateTurnRecords = (records: ReadonlyArray<Record<string, any>>) => {
  const seen = new Map<string, number>()
  for (const r of records) {
    const k = `${r.tenant_id}/${r.turn_id}`
    seen.set(k, (seen.get(k) ?? 0) + 1)
  }
  return [...seen].filter(([, n]) => n > 1).map(([k]) => k)
}

/** The common environment of a Kafka-mode child. */
export const kafkaEnv = (options: {
  readonly brokers: string
  readonly databaseUrl: string
  readonly prefix: string
  readonly group: string
  readonly extra?: Record<string, string>
}): Record<string, string> => ({
  KAFKA_BROKERS: options.brokers,
  DATABASE_URL: options.databaseUrl,
  TURNVAULT_TOPIC_PREFIX: options.prefix,
  TURNVAULT_CONSUMER_GROUP: options.group,
  TURNVAULT_MIGRATE_ON_START: "false",
  TURNVAULT_LOG_LEVEL: "info",
  // TEST_KAFKA_PRODUCER / TEST_KAFKA_CONSUMER (kafkajs | platformatic) pick the Kafka clients of
  // the scenarios (the vitest project "platformatic" sets them; unset, turnvault's default runs)
  ...(process.env.TEST_KAFKA_PRODUCER === undefined
    ? {}
    : { TURNVAULT_KAFKA_PRODUCER: process.env.TEST_KAFKA_PRODUCER }),
  ...(process.env.TEST_KAFKA_CONSUMER === undefined
    ? {}
    : { TURNVAULT_KAFKA_CONSUMER: process.env.TEST_KAFKA_CONSUMER }),
  ...options.extra
})

/**
 * The common start of a Kafka scenario: broker, fresh database, work dir, a seeded workload on
 * disk, unique topic prefix and group, the `process` reference (started, not awaited),
 * definitions imported and topics created.
 */
export const prepareScenario = async (options: {
  readonly name: string
  readonly seed: number
  readonly count: number
  readonly extra: Record<string, string>
  readonly customers?: "per-partition" | "shared"
}) => {
  const [brokers, database, dir] = await Promise.all([
    ensureKafka(),
    freshDatabase(),
    workDir(`kafka-${options.name}`)
  ])
  const workload = makeWorkload({
    seed: options.seed,
    count: options.count,
    ...(options.customers === undefined ? {} : { customers: options.customers })
  })
  const files = await writeWorkload(dir, workload)
  const prefix = `${uniqueName(options.name)}.`
  const group = uniqueName(`${options.name}-group`)
  const env = kafkaEnv({ brokers, databaseUrl: database.url, prefix, group, extra: options.extra })
  const referencePromise = referenceExport(dir, files)
  await turnvault(["definitions", "import", files.definitions], { DATABASE_URL: database.url })
  await turnvault(["topics", "ensure"], env)
  return {
    brokers,
    database,
    dir,
    workload,
    files,
    prefix,
    group,
    topics: topicNames(prefix),
    env,
    referencePromise
  }
}

/**
 * The start of a scenario of hand-written events: broker, fresh database with `definitions`
 * imported, work dir, unique topic prefix and group, and the environment of `turnvault start`.
 * Topics are the caller's to create (`turnvault topics ensure`, or some of them by hand).
 */
export const handWrittenScenario = async (
  label: string,
  definitions: ReadonlyArray<object>,
  extra: Record<string, string>
) => {
  const [brokers, database, dir] = await Promise.all([
    ensureKafka(),
    freshDatabase(),
    workDir(`kafka-${label}`)
  ])
  const definitionsFile = path.join(dir, "defs.json")
  await writeFile(definitionsFile, JSON.stringify(definitions))
  await turnvault(["definitions", "import", definitionsFile], { DATABASE_URL: database.url })
  const prefix = `${uniqueName(label)}.`
  const group = uniqueName(`${label}-group`)
  const env = kafkaEnv({ brokers, databaseUrl: database.url, prefix, group, extra })
  return { brokers, database, dir, group, topics: topicNames(prefix), env }
}
