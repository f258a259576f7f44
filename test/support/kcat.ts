/**
 * kcat (librdkafka's command-line client) as the independent Kafka client of the e2e tests:
 * what turnvault consumes is produced by kcat, and what it publishes is read back by kcat, so a
 * bug shared by kafkajs on both sides cannot hide itself. Install with scripts/ci/kcat.sh;
 * `KCAT` overrides the binary (e.g. `kafkacat` on older distributions).
 */
import { spawn, spawnSync } from "node:child_process"

export const kcatBinary = process.env.KCAT ?? "kcat"

/** Throws a helpful error when kcat is not installed. */
export const requireKcat = (): void => {
  const probe = spawnSync(kcatBinary, ["-V"], { encoding: "utf8" })
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      `${kcatBinary} is not available (${String(probe.error ?? probe.stderr)}): run scripts/ci/kcat.sh`
    )
  }
}

export interface KeyedLine {
  readonly key: string
  readonly value: string
}

export interface KcatMessage {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly key: string | null
  readonly payload: string | null
  readonly headers: Readonly<Record<string, string>>
}

interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const run = (args: ReadonlyArray<string>, input: string | null, timeoutMs: number): Promise<RunResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(kcatBinary, [...args], { stdio: ["pipe", "pipe", "pipe"] })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`kcat ${args.join(" ")} timed out after ${timeoutMs} ms\n${Buffer.concat(err)}`))
    }, timeoutMs)
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk))
    child.on("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({
        code,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8")
      })
    })
    child.stdin.on("error", () => {})
    child.stdin.end(input ?? "")
  })

/**
 * Produces `key<TAB>value` lines (keys and values must not contain a tab or a newline; JSON
 * values never do). Idempotent producer, acks=all, Java-compatible murmur2 partitioner so that a
 * key lands on the partition any Kafka client would choose. Resolves once kcat has flushed.
 */
export const kcatProduce = async (
  broker: string,
  topic: string,
  lines: ReadonlyArray<KeyedLine>,
  /** `partition`: every line to this partition, in order (instead of by key). */
  options: { readonly timeoutMs?: number; readonly partition?: number } = {}
): Promise<void> => {
  if (lines.length === 0) return
  for (const line of lines) {
    if (/[\t\n]/.test(line.key) || /\n/.test(line.value)) {
      throw new Error(`kcatProduce: key or value contains a separator: ${JSON.stringify(line)}`)
    }
  }
  const input = `${lines.map((l) => `${l.key}\t${l.value}`).join("\n")}\n`
  const result = await run(
    [
      "-P",
      "-b",
      broker,
      "-t",
      topic,
      "-K",
      "\t",
      "-X",
      "enable.idempotence=true",
      "-X",
      "acks=all",
      "-X",
      "partitioner=murmur2_random",
      "-X",
      "linger.ms=5",
      ...(options.partition === undefined ? [] : ["-p", String(options.partition)])
    ],
    input,
    options.timeoutMs ?? 60_000
  )
  if (result.code !== 0) {
    throw new Error(`kcat produce to ${topic} exited ${result.code}: ${result.stderr}`)
  }
}

const headerRecord = (headers: unknown): Record<string, string> => {
  const out: Record<string, string> = {}
  if (!Array.isArray(headers)) return out
  for (let i = 0; i + 1 < headers.length; i += 2) out[String(headers[i])] = String(headers[i + 1])
  return out
}

/**
 * Reads a whole topic from the beginning to its current end (`-C -e`), with keys, payloads and
 * headers from kcat's JSON envelope (`-J`). Messages come sorted by partition, then offset.
 */
export const kcatConsume = async (
  broker: string,
  topic: string,
  options: { readonly timeoutMs?: number } = {}
): Promise<Array<KcatMessage>> => {
  const result = await run(
    ["-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-J", "-q", "-u"],
    null,
    options.timeoutMs ?? 60_000
  )
  if (result.code !== 0) {
    throw new Error(`kcat consume of ${topic} exited ${result.code}: ${result.stderr}`)
  }
  const messages = result.stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => {
      const m = JSON.parse(line) as Record<string, unknown>
      return {
        topic: String(m.topic),
        partition: Number(m.partition),
        offset: Number(m.offset),
        key: typeof m.key === "string" ? m.key : null,
        payload: typeof m.payload === "string" ? m.payload : null,
        headers: headerRecord(m.headers)
      } satisfies KcatMessage
    })
  return messages.sort((a, b) => a.partition - b.partition || a.offset - b.offset)
}

/** Partition metadata of a topic as kcat sees it (`-L -J`): the number of partitions. */
export const kcatPartitions = async (broker: string, topic: string): Promise<number> => {
  const result = await run(["-L", "-b", broker, "-t", topic, "-J"], null, 30_000)
  if (result.code !== 0) throw new Error(`kcat -L ${topic} exited ${result.code}: ${result.stderr}`)
  const meta = JSON.parse(result.stdout) as { topics: Array<{ topic: string; partitions: Array<unknown> }> }
  return meta.topics.find((t) => t.topic === topic)?.partitions.length ?? 0
}
