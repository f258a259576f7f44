/**
 * Port: opens the sealed texts of memory-ingestion tasks for the ingest worker (decision 0019).
 * Without TURNVAULT_KEK the texts are not sealed and `clear` answers every task as it is; with it,
 * src/privacy/SealedTexts.ts opens them with the customers' data keys. A task whose key was
 * destroyed (its customer erased) is answered as null: its texts are gone.
 */
import { Context, Data, Effect, Layer } from "effect"
import type { MemoryIngestionTask } from "../../schemas"

export class TaskTextsError extends Data.TaggedError("TaskTextsError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

export interface TaskTextsService {
  /** The tasks, in order, with their texts in user_message and agent_response, or null. */
  readonly open: (
    tasks: ReadonlyArray<MemoryIngestionTask>
  ) => Effect.Effect<ReadonlyArray<MemoryIngestionTask | null>, TaskTextsError>
}

/** Texts that are not sealed pass as they are; a sealed one cannot be opened without the key. */
export const clearTaskTexts: TaskTextsService = {
  open: (tasks) => Effect.succeed(tasks.map((task) => (task.sealed_texts === undefined ? task : null)))
}

export class TaskTexts extends Context.Tag("turnvault/TaskTexts")<TaskTexts, TaskTextsService>() {
  static readonly clear = Layer.succeed(TaskTexts, clearTaskTexts)
}
