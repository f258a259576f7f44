/** OutputSink over the embedded in-process log: each message is appended, partitioned by its key. */
import { Effect, Layer } from "effect"
import { OutputSink } from "../../ports/OutputSink"
import { InProcessLog } from "./InProcessLog"

export const EmbeddedSinkLive = Layer.effect(
  OutputSink,
  Effect.map(InProcessLog, (log) =>
    OutputSink.of({
      publish: (messages) =>
        Effect.sync(() => {
          for (const message of messages) log.append(message)
        })
    })
  )
)
