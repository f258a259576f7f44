// One readiness probe for the dev/test broker: exits 0 when the broker at
// argv[2] answers Metadata with at least one (unfenced) broker, 1 otherwise.
// Used by up.sh; resolves kafkajs from the repository's node_modules.
import { createRequire } from "node:module"
import path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(path.join(here, "..", "..", "package.json"))
const { Kafka, logLevel } = require("kafkajs")

const broker = process.argv[2] ?? "127.0.0.1:9092"
const kafka = new Kafka({
  clientId: "turnvault-kafka-probe",
  brokers: [broker],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 1000,
  requestTimeout: 3000,
  retry: { retries: 0 }
})
const admin = kafka.admin()
const timer = setTimeout(() => process.exit(1), 5000)
try {
  await admin.connect()
  const cluster = await admin.describeCluster()
  await admin.disconnect()
  clearTimeout(timer)
  process.exit(cluster.brokers.length > 0 && cluster.controller !== null ? 0 : 1)
} catch {
  process.exit(1)
}
