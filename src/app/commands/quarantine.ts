/**
 * `turnvault quarantine list | show | release | drop`: the operator's view of quarantined sessions
 * (streams/quarantine.ts) and the two ways out. Release and drop are not carried out here: they
 * publish a control message onto the partition the session's events are read from, keyed like
 * them, and the partition's owner carries it out where it stands in the stream (release: the parked
 * events go through the flow again, in order, before anything the session sent later; drop: they
 * go to the DLQ, reason `operator_dropped`). So a release never races the owner, and a crash
 * replays it from the log like any other record.
 */
import { isUtf8 } from "node:buffer"
import { Effect } from "effect"
import { type ControlAction, controlMessage } from "../../../streams/quarantine"
import { OutputSink } from "../../ports/OutputSink"
import { QuarantineStore, type StoredParkedEvent } from "../../ports/QuarantineStore"
import { CliInputError } from "./process"

export const listQuarantine = (tenantId: string | undefined) =>
  Effect.flatMap(QuarantineStore, (store) => store.sessions(tenantId === undefined ? {} : { tenantId }))

/** A parked event as `show` prints it: its bytes only with `values` (they may hold personal data). */
const shown = (row: StoredParkedEvent, values: boolean) => {
  const { value, ...rest } = row
  return {
    ...rest,
    bytes: value.length,
    ...(values
      ? isUtf8(value)
        ? { value: value.toString("utf8") }
        : { value_base64: value.toString("base64") }
      : {})
  }
}

export const showQuarantine = (tenantId: string, sessionId: string, values: boolean) =>
  Effect.map(
    Effect.flatMap(QuarantineStore, (store) => store.events(tenantId, sessionId)),
    (rows) => rows.map((row) => shown(row, values))
  )

/**
 * Publishes the control message that releases or drops a quarantined session; null when the
 * session has no parked events. The CLI and the admin API both come here.
 */
export const publishResolution = (action: ControlAction, tenantId: string, sessionId: string) =>
  Effect.gen(function* () {
    const rows = (yield* (yield* QuarantineStore).events(tenantId, sessionId)).filter(
      (r) => r.status === "parked"
    )
    const first = rows[0]
    if (first === undefined) return null
    yield* (yield* OutputSink).publish([controlMessage(first.topic, action, first)])
    return {
      action,
      tenant_id: tenantId,
      session_id: sessionId,
      events: rows.length,
      topic: first.topic,
      partition: first.partition
    }
  })

/** `quarantine release|drop`: as publishResolution, and an input error when nothing is parked. */
export const resolveQuarantine = (action: ControlAction, tenantId: string, sessionId: string) =>
  Effect.flatMap(publishResolution(action, tenantId, sessionId), (resolution) =>
    resolution === null
      ? new CliInputError({ message: `session ${sessionId} of tenant ${tenantId} is not quarantined` })
      : Effect.succeed(resolution)
  )
