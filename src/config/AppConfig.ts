/**
 * Every knob, read once through Effect's Config (environment by default, a map in tests).
 * Unset backends mean the embedded default (DESIGN 7).
 */
import { Config, Option, Redacted } from "effect"

const int = (name: string, fallback: number, description: string) =>
  Config.integer(name).pipe(Config.withDefault(fallback), Config.withDescription(description))

/** An interval: a positive number of milliseconds (0 would make a schedule spin). */
const intervalMs = (name: string, fallback: number, description: string) =>
  int(name, fallback, description).pipe(
    Config.validate({
      message: `${name} must be a positive number of milliseconds`,
      validation: (n) => n > 0
    })
  )

/** Read apart too: the logger is chosen before the rest of the configuration is. */
export const LogFormatConfig = Config.string("TURNVAULT_LOG_FORMAT").pipe(
  Config.withDefault("auto"),
  Config.withDescription("json or pretty; auto: pretty on a terminal, JSON lines otherwise")
)

export const AppConfig = Config.all({
  kafkaBrokers: Config.option(Config.string("KAFKA_BROKERS")).pipe(
    Config.map(
      Option.map((s) =>
        s
          .split(",")
          .map((b) => b.trim())
          .filter((b) => b.length > 0)
      )
    ),
    Config.withDescription("Comma-separated Kafka bootstrap servers; unset = embedded in-process log")
  ),
  databaseUrl: Config.option(Config.redacted("DATABASE_URL")).pipe(
    Config.withDescription("PostgreSQL connection string; unset = in-memory stores")
  ),
  redisUrl: Config.option(Config.redacted("REDIS_URL")).pipe(
    Config.withDescription("Redis connection string; unset = no cache")
  ),
  httpPort: int("TURNVAULT_HTTP_PORT", 9464, "Port of /metrics, /healthz and /readyz"),
  kafkaProducer: Config.literal(
    "kafkajs",
    "platformatic"
  )("TURNVAULT_KAFKA_PRODUCER").pipe(
    Config.withDefault("kafkajs" as const),
    Config.withDescription(
      "Kafka client of the output producer: kafkajs, or platformatic (@platformatic/kafka) (docs/decisions/0016-kafka-clients-side-by-side.md)"
    )
  ),
  kafkaConsumer: Config.literal(
    "kafkajs",
    "platformatic"
  )("TURNVAULT_KAFKA_CONSUMER").pipe(
    Config.withDefault("kafkajs" as const),
    Config.withDescription(
      "Kafka client of the input consumer: kafkajs, or platformatic (@platformatic/kafka) (docs/decisions/0016-kafka-clients-side-by-side.md)"
    )
  ),
  topicPrefix: Config.string("TURNVAULT_TOPIC_PREFIX").pipe(
    Config.withDefault("turnvault."),
    Config.withDescription("Prefix of every topic name")
  ),
  partitions: int(
    "TURNVAULT_PARTITIONS",
    8,
    "Partitions of the embedded log and of topics created by `topics ensure`"
  ),
  consumerGroup: Config.string("TURNVAULT_CONSUMER_GROUP").pipe(
    Config.withDefault("turnvault"),
    Config.withDescription("Kafka consumer group (and the embedded log's committed offsets)")
  ),
  validationMode: Config.literal(
    "strict",
    "warn",
    "disabled"
  )("TURNVAULT_VALIDATION_MODE").pipe(
    Config.withDefault("strict" as const),
    Config.withDescription("Default validation mode; a definition's validation_mode overrides it")
  ),
  maxHistoryEntries: int("TURNVAULT_MAX_HISTORY_ENTRIES", 10, "Value history kept per field"),
  sessionCleanupOnEnd: Config.boolean("TURNVAULT_SESSION_CLEANUP_ON_END").pipe(
    Config.withDefault(true),
    Config.withDescription("Clear session-only values when a session ends")
  ),
  customerDataPersistence: Config.boolean("TURNVAULT_CUSTOMER_DATA_PERSISTENCE").pipe(
    Config.withDefault(true),
    Config.withDescription(
      "Keep the customer profile; false keeps every value in its session only, as `persist: false` would"
    )
  ),
  extractionReview: Config.literal(
    "hold",
    "activate"
  )("TURNVAULT_EXTRACTION_REVIEW").pipe(
    Config.withDefault("hold" as const),
    Config.withDescription(
      "An inferred value below 0.8 confidence: hold = stored as pending_review, never current; activate = applied like any other"
    )
  ),
  memoryIngestion: Config.boolean("TURNVAULT_MEMORY_INGESTION").pipe(
    Config.withDefault(true),
    Config.withDescription("Publish a memory-ingestion task per applied turn")
  ),
  sequentialPersistence: Config.boolean("TURNVAULT_SEQUENTIAL_PERSISTENCE").pipe(
    Config.withDefault(false),
    Config.withDescription("Write session, customer data and turn record one after another (comparison)")
  ),
  batchSize: int("TURNVAULT_BATCH_SIZE", 500, "Most events taken from one partition per batch"),
  maxEventBytes: int(
    "TURNVAULT_MAX_EVENT_BYTES",
    1024 * 1024,
    "Largest input event accepted; larger ones go to the DLQ as too_large (topics are sized from it)"
  ),
  actorIdleMs: int("TURNVAULT_ACTOR_IDLE_MS", 300_000, "Passivate a session actor after this idle time"),
  maxActors: int("TURNVAULT_MAX_ACTORS", 200_000, "Upper bound on resident session actors"),
  definitionsTtlMs: int("TURNVAULT_DEFINITIONS_TTL_MS", 30_000, "Re-read field definitions after this long"),
  telemetryBuffer: int("TURNVAULT_TELEMETRY_BUFFER", 10_000, "Capacity of the telemetry buffer"),
  retryBaseMs: int("TURNVAULT_RETRY_BASE_MS", 50, "First retry delay of a failed store write"),
  retryMaxMs: int("TURNVAULT_RETRY_MAX_MS", 2_000, "Longest retry delay of a failed store write"),
  retryAttempts: int("TURNVAULT_RETRY_ATTEMPTS", 5, "Attempts per write before the partition pauses"),
  pauseMs: int("TURNVAULT_PAUSE_MS", 1_000, "Delay between attempts while stores are down"),
  quarantineAfter: int(
    "TURNVAULT_QUARANTINE_AFTER",
    3,
    "Attempts of a batch the stores refuse for good before its failing session is quarantined"
  ),
  syntheticRate: int(
    "TURNVAULT_SYNTHETIC_RATE",
    2_000,
    "Events/s that `start` feeds itself on the embedded log"
  ),
  ensureTopics: Config.boolean("TURNVAULT_ENSURE_TOPICS").pipe(
    Config.withDefault(true),
    Config.withDescription("Create missing topics from the catalogue on start (Kafka mode)")
  ),
  partitionsConcurrently: Config.option(Config.integer("TURNVAULT_PARTITIONS_CONCURRENTLY")).pipe(
    Config.withDescription(
      "Kafka partitions processed at once, of either topic; unset = every partition both topics have"
    )
  ),
  kafkaSessionTimeoutMs: int("TURNVAULT_KAFKA_SESSION_TIMEOUT_MS", 30_000, "Consumer group session timeout"),
  readyStallMs: int(
    "TURNVAULT_READY_STALL_MS",
    30_000,
    "Not ready when a lagging partition commits nothing this long"
  ),
  pgPoolSize: int("TURNVAULT_PG_POOL_SIZE", 10, "PostgreSQL connections in the pool"),
  pgIdleInTransactionMs: int(
    "TURNVAULT_PG_IDLE_IN_TRANSACTION_MS",
    10_000,
    "The server ends a connection idle inside a transaction this long (a frozen owner's locks go)"
  ),
  migrateOnStart: Config.boolean("TURNVAULT_MIGRATE_ON_START").pipe(
    Config.withDefault(true),
    Config.withDescription("Apply pending migrations when a command opens PostgreSQL")
  ),
  shutdownTimeoutMs: int(
    "TURNVAULT_SHUTDOWN_TIMEOUT_MS",
    30_000,
    "After SIGTERM, how long in-flight batches may take before the process exits non-zero"
  ),
  apiEnabled: Config.boolean("TURNVAULT_API").pipe(
    Config.withDefault(true),
    Config.withDescription(
      "Serve the tenant admin API (/v1, /openapi.json) on the HTTP port in `start`; needs DATABASE_URL"
    )
  ),
  tenantDatabaseUrl: Config.option(Config.redacted("TURNVAULT_TENANT_DATABASE_URL")).pipe(
    Config.withDescription(
      "Where the API's tenant reads log in (as turnvault_authenticator); unset = DATABASE_URL with that user"
    )
  ),
  apiRatePerSecond: int("TURNVAULT_API_RATE_PER_SECOND", 50, "Requests per second each API key may make"),
  apiRateBurst: int(
    "TURNVAULT_API_RATE_BURST",
    100,
    "Requests an API key may make at once before the rate applies"
  ),
  jobsEnabled: Config.boolean("TURNVAULT_JOBS").pipe(
    Config.withDefault(true),
    Config.withDescription(
      "Run the background jobs (field expiry, orphan marking) on their schedule in `start`; false on this instance only"
    )
  ),
  jobExpireIntervalMs: intervalMs(
    "TURNVAULT_JOB_EXPIRE_INTERVAL_MS",
    300_000,
    "Schedule tick of the expiry job: active fields past expires_at become expired"
  ),
  jobOrphansIntervalMs: intervalMs(
    "TURNVAULT_JOB_ORPHANS_INTERVAL_MS",
    900_000,
    "Schedule tick of the orphan job: active items whose source is gone become orphaned"
  ),
  kek: Config.option(
    Config.redacted("TURNVAULT_KEK").pipe(
      Config.validate({
        message: "TURNVAULT_KEK must be 32 bytes in base64 (openssl rand -base64 32)",
        validation: (key) => Buffer.from(Redacted.value(key).trim(), "base64").length === 32
      })
    )
  ).pipe(
    Config.withDescription(
      "Key-encryption key (32 bytes, base64): is_pii values are sealed at rest under per-customer keys it wraps; unset = stored in the clear"
    )
  ),
  keyCacheTtlMs: intervalMs(
    "TURNVAULT_KEY_CACHE_TTL_MS",
    30_000,
    "How long a process uses a customer's data key it cached before asking again: how long an erasure may take to reach it"
  ),
  checkpointKey: Config.option(Config.redacted("TURNVAULT_CHECKPOINT_KEY")).pipe(
    Config.withDescription(
      "Ed25519 private key signing the audit checkpoints (PKCS#8, PEM or one-line base64 DER; `turnvault checkpoints keygen`); unset = no checkpoints"
    )
  ),
  checkpointPublicKey: Config.option(Config.string("TURNVAULT_CHECKPOINT_PUBLIC_KEY")).pipe(
    Config.withDescription(
      "The public key `verify --checkpoints` checks signatures with (SPKI, PEM or base64 DER); unset = the one of TURNVAULT_CHECKPOINT_KEY"
    )
  ),
  checkpointIntervalMs: intervalMs(
    "TURNVAULT_CHECKPOINT_INTERVAL_MS",
    60_000,
    "Schedule tick of the audit checkpoint: what was written since the last one is signed and published"
  ),
  logLevel: Config.string("TURNVAULT_LOG_LEVEL").pipe(
    Config.withDefault("info"),
    Config.withDescription("Minimum log level of the log lines")
  ),
  logFormat: LogFormatConfig,
  llmBaseUrl: Config.option(Config.string("TURNVAULT_LLM_BASE_URL")).pipe(
    Config.withDescription(
      "OpenAI-compatible chat-completions endpoint, e.g. https://api.openai.com/v1; unset = the rules that need no model"
    )
  ),
  llmModel: Config.string("TURNVAULT_LLM_MODEL").pipe(
    Config.withDefault("gpt-4o-mini"),
    Config.withDescription("Model asked at TURNVAULT_LLM_BASE_URL")
  ),
  llmApiKey: Config.redacted("TURNVAULT_LLM_API_KEY").pipe(
    Config.withDefault(Redacted.make("")),
    Config.withDescription("Bearer key of TURNVAULT_LLM_BASE_URL (never logged)")
  ),
  llmTimeoutMs: int("TURNVAULT_LLM_TIMEOUT_MS", 30_000, "Deadline of one model request, body included"),
  ingestGroup: Config.string("TURNVAULT_INGEST_GROUP").pipe(
    Config.withDefault("turnvault-ingest"),
    Config.withDescription("Consumer group of `turnvault ingest` on the memory-ingestion topic")
  ),
  ingestHttpPort: int(
    "TURNVAULT_INGEST_HTTP_PORT",
    9465,
    "Port of `turnvault ingest`'s /metrics, /healthz and /readyz"
  ),
  ingestAttempts: int(
    "TURNVAULT_INGEST_ATTEMPTS",
    4,
    "Tries of one model request before a task is dead-lettered"
  ).pipe(
    Config.validate({ message: "TURNVAULT_INGEST_ATTEMPTS must be at least 1", validation: (n) => n >= 1 })
  ),
  ingestRetryBaseMs: intervalMs(
    "TURNVAULT_INGEST_RETRY_BASE_MS",
    1000,
    "First wait before trying a failed model request again (doubled each try; a Retry-After wins)"
  ),
  ingestTenantConcurrency: int(
    "TURNVAULT_INGEST_TENANT_CONCURRENCY",
    8,
    "Sessions of one tenant the ingest worker processes at the same time"
  ).pipe(
    Config.validate({
      message: "TURNVAULT_INGEST_TENANT_CONCURRENCY must be at least 1",
      validation: (n) => n >= 1
    })
  ),
  ingestChunk: int(
    "TURNVAULT_INGEST_CHUNK",
    64,
    "Tasks the ingest worker processes before committing their offsets"
  ).pipe(
    Config.validate({ message: "TURNVAULT_INGEST_CHUNK must be at least 1", validation: (n) => n >= 1 })
  ),
  ingestEmbedded: Config.boolean("TURNVAULT_INGEST_EMBEDDED").pipe(
    Config.withDefault(true),
    Config.withDescription(
      "On embedded defaults, `turnvault start` runs the ingest worker in-process (with Kafka it is `turnvault ingest`)"
    )
  ),
  ingestSummaries: Config.boolean("TURNVAULT_INGEST_SUMMARIES").pipe(
    Config.withDefault(true),
    Config.withDescription("Keep a rolling summary per session (one more model request per turn)")
  )
})

export type AppConfig = Config.Config.Success<typeof AppConfig>

/**
 * The consumer reads two topics (input and by-customer) of `partitions` each. kafkajs fetches the
 * next round only once every partition of this one is handled, and a partition beyond the limit
 * waits for a free slot: the input's re-keying then queues behind the stateful stage's batches
 * (measured: p50 produce → durable at 1,000 turns/s 1.18 s with 8, 0.66 s with 16).
 */
export const partitionsConcurrently = (config: AppConfig) =>
  Option.getOrElse(config.partitionsConcurrently, () => 2 * config.partitions)
