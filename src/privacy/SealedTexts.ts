/**
 * The turn texts on `turnvault.memory-ingestion`, sealed (decision 0019). `withSealedTexts` wraps
 * the OutputSink: each memory-ingestion task it publishes carries its user_message and
 * agent_response sealed under the customer's data key in `sealed_texts`, bound to (tenant,
 * customer, turn), and the two fields empty. `makeTaskTexts` opens them for the ingest worker;
 * once the customer is erased they no longer open, on the topic or in any copy of it.
 */
import { Context, Effect, Layer } from "effect"
import type { MemoryIngestionTask } from "../../schemas"
import { isSealed, openValue, sealValue, textsBinding } from "../domain/envelope"
import { CustomerKeys, customerKeyOf, versionKeyOf } from "../ports/CustomerKeys"
import { type OutputMessage, OutputSink, OutputSinkError } from "../ports/OutputSink"
import { TaskTexts, TaskTextsError } from "../ports/TaskTexts"
import { DEFAULT_SEALING, makeKeyCache, type SealingOptions } from "./keyCache"

interface Texts {
  readonly user_message: string
  readonly agent_response: string
}

const isTexts = (value: unknown): value is Texts =>
  typeof value === "object" &&
  value !== null &&
  typeof (value as Texts).user_message === "string" &&
  typeof (value as Texts).agent_response === "string"

/** The OutputSink of `stores`' context, with the memory-ingestion topic's tasks sealed. */
export const sealedOutputSink = (topic: string, options: SealingOptions = DEFAULT_SEALING) =>
  Effect.gen(function* () {
    const sink = yield* OutputSink
    const keys = makeKeyCache(yield* CustomerKeys, options)
    const sealTasks = (messages: ReadonlyArray<OutputMessage>) =>
      Effect.gen(function* () {
        const tasks = new Map<number, MemoryIngestionTask>()
        messages.forEach((message, i) => {
          if (message.topic !== topic || typeof message.value !== "string") return
          const task = JSON.parse(message.value) as MemoryIngestionTask
          if (task.sealed_texts === undefined) tasks.set(i, task)
        })
        if (tasks.size === 0) return messages
        const live = yield* Effect.mapError(
          keys.live([...tasks.values()]),
          (cause) => new OutputSinkError({ cause })
        )
        return messages.map((message, i) => {
          const task = tasks.get(i)
          const key = task === undefined ? undefined : live.get(customerKeyOf(task))
          if (task === undefined || key === undefined) return message
          const texts: Texts = { user_message: task.user_message, agent_response: task.agent_response }
          const sealed: MemoryIngestionTask = {
            ...task,
            user_message: "",
            agent_response: "",
            sealed_texts: sealValue(
              key.key,
              key.version,
              textsBinding(task.tenant_id, task.customer_id, task.turn_id),
              texts
            )
          }
          return { ...message, value: JSON.stringify(sealed) }
        })
      })
    return OutputSink.of({ publish: (messages) => Effect.flatMap(sealTasks(messages), sink.publish) })
  })

/** The given layer (an OutputSink and CustomerKeys among its outputs) with the sink sealing tasks. */
export const withSealedTexts =
  (topic: string, options: SealingOptions = DEFAULT_SEALING) =>
  <ROut, E, R>(layer: Layer.Layer<ROut | OutputSink | CustomerKeys, E, R>) =>
    Layer.effectContext(
      Effect.gen(function* () {
        const context = yield* Effect.context<ROut | OutputSink | CustomerKeys>()
        const sealed = yield* Effect.provide(sealedOutputSink(topic, options), context)
        return Context.add(context, OutputSink, sealed)
      })
    ).pipe(Layer.provide(layer))

/** TaskTexts with the customers' data keys. */
export const makeTaskTexts = (options: SealingOptions = DEFAULT_SEALING) =>
  Effect.map(CustomerKeys, (service) => {
    const keys = makeKeyCache(service, options)
    return TaskTexts.of({
      open: (tasks) =>
        Effect.gen(function* () {
          const wanted = tasks.flatMap((task) =>
            task.sealed_texts === undefined
              ? []
              : [{ tenant_id: task.tenant_id, customer_id: task.customer_id, version: task.sealed_texts.k }]
          )
          if (wanted.length === 0) return tasks
          const found = yield* Effect.mapError(
            keys.find(wanted),
            (error) => new TaskTextsError({ operation: error.operation, cause: error.cause })
          )
          return tasks.map((task) => {
            const sealed = task.sealed_texts
            if (sealed === undefined) return task
            const key = found.get(versionKeyOf(task, sealed.k))
            const texts =
              key === undefined || !isSealed(sealed)
                ? undefined
                : openValue(key, textsBinding(task.tenant_id, task.customer_id, task.turn_id), sealed)
            return isTexts(texts) ? { ...task, ...texts } : null
          })
        })
    })
  })

export const taskTextsLayer = (options: SealingOptions = DEFAULT_SEALING) =>
  Layer.effect(TaskTexts, makeTaskTexts(options))
