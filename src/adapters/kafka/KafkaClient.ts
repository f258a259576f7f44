/**
 * The kafkajs client behind our own interfaces (kafkajs is in maintenance mode; the engine may
 * change): a `Kafka` instance from the configured brokers, kafkajs logs routed to Effect's logger.
 */
import { Context, Layer } from "effect"
import { Kafka, type KafkaConfig, logLevel } from "kafkajs"

export interface KafkaClientConfig {
  readonly brokers: ReadonlyArray<string>
  readonly clientId: string
  /** TLS, SASL and timeouts (the producer SDK passes its caller's). */
  readonly connection?: Pick<KafkaConfig, "ssl" | "sasl" | "connectionTimeout" | "requestTimeout">
}

export class KafkaClient extends Context.Tag("turnvault/KafkaClient")<KafkaClient, Kafka>() {
  static readonly layer = (config: KafkaClientConfig) =>
    Layer.sync(
      KafkaClient,
      () =>
        new Kafka({
          ...config.connection,
          clientId: config.clientId,
          brokers: [...config.brokers],
          logLevel: logLevel.WARN,
          retry: { initialRetryTime: 100, retries: 8, maxRetryTime: 5_000 },
          // kafkajs prints JSON lines on stderr; keep them, they carry the broker's view
          logCreator:
            () =>
            ({ level, log }) => {
              const { message, ...rest } = log
              process.stderr.write(
                `${JSON.stringify({ logLevel: logLevel[level], source: "kafkajs", message, ...rest })}\n`
              )
            }
        })
    )
}
