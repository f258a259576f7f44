// Test helper: a REAL Kafka broker for integration tests (never a mock).
//
// ensureKafka() resolves to a bootstrap address ("host:port[,host:port]"):
//   - KAFKA_BROKERS if set (CI or a developer pointing at their own broker);
//   - otherwise it runs scripts/kafka/up.sh, which starts (or reuses) the
//     single-node KRaft broker on 127.0.0.1:${KAFKA_PORT:-9092} and prints the
//     address as its last stdout line.
//
// Called from several test files at once it stays cheap and safe: the promise
// is memoised per worker process, and up.sh itself is idempotent and
// serialised with flock, so concurrent workers end up sharing one broker.
// The broker is left running after the tests (stop it with `npm run kafka:down`).
import { execFile } from "node:child_process"
import path from "node:path"
import { fileURLToPath } from "node:url"

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")
const upScript = path.join(repoRoot, "scripts", "kafka", "up.sh")

/** Upper bound for up.sh: a cold start downloads Kafka's jars with Maven. */
export const KAFKA_UP_TIMEOUT_MS = 600_000

let pending: Promise<string> | undefined

export function ensureKafka(): Promise<string> {
  const fromEnv = process.env.KAFKA_BROKERS?.trim()
  if (fromEnv) return Promise.resolve(fromEnv)
  pending ??= runUp().then(
    (address) => {
      process.env.KAFKA_BROKERS = address
      return address
    },
    (error: unknown) => {
      pending = undefined
      throw error
    }
  )
  return pending
}

/** The bootstrap address as kafkajs wants it. */
export async function kafkaBrokers(): Promise<string[]> {
  return (await ensureKafka())
    .split(",")
    .map((b) => b.trim())
    .filter(Boolean)
}

function runUp(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      [upScript],
      { cwd: repoRoot, timeout: KAFKA_UP_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`scripts/kafka/up.sh failed: ${error.message}\n${stderr}`))
          return
        }
        const lines = stdout
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean)
        const address = lines.at(-1)
        if (!address || !/^[^\s:]+:\d+$/.test(address)) {
          reject(
            new Error(
              `scripts/kafka/up.sh printed no bootstrap address\nstdout: ${stdout}\nstderr: ${stderr}`
            )
          )
          return
        }
        resolve(address)
      }
    )
  })
}
