/**
 * The logical topics the core reads and writes. Their names are the topology's to choose
 * (streams/topics.ts builds them from the configured prefix); the core only routes by role.
 */
export interface TopicNames {
  readonly turnEvents: string
  /** The input re-keyed by (tenant, customer): the stateful stage reads this one (Kafka mode). */
  readonly byCustomer: string
  readonly dlq: string
  readonly memoryIngestion: string
  /** Tasks the ingest worker gave up on (`turnvault ingest`). */
  readonly memoryIngestionDlq: string
  readonly turnRecords: string
  readonly telemetry: string
  /** Signed audit checkpoints: the witness outside the database (decision 0018). */
  readonly auditCheckpoints: string
  /** Customers erased (`turnvault erase`), for downstream consumers to erase too (decision 0019). */
  readonly erasures: string
}
