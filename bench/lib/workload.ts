/**
 * The fixed synthetic workload every scenario shares: the project's own generator
 * (src/dev/SyntheticTraffic.ts), seeded, with no malformed lines and no duplicates so that
 * "everything durable" is an exact count (one turn record per turn.completed event).
 */
import { Schema } from "effect"
import { FieldDefinition } from "../../schemas"
import { syntheticDefinitions } from "../../src/dev/definitions"
import {
  AGENTS,
  defaultTrafficOptions,
  makeSyntheticTraffic,
  type TrafficLine,
  type TrafficOptions
} from "../../src/dev/SyntheticTraffic"

export const workloadOptions: TrafficOptions = {
  ...defaultTrafficOptions,
  seed: 20_260_101,
  tenants: 3,
  customersPerTenant: 2_000,
  concurrentSessions: 2_000,
  turnsPerSession: 8,
  invalidShare: 0.05,
  malformedShare: 0,
  duplicateShare: 0
}

export const PARTITIONS = 8

export interface Workload {
  readonly lines: ReadonlyArray<TrafficLine>
  readonly turnIds: ReadonlyArray<string>
  readonly stats: WorkloadStats
}

export interface WorkloadStats {
  readonly events: number
  readonly turns: number
  readonly sessionEnded: number
  readonly caseClosed: number
  readonly sessions: number
  readonly tenants: number
  readonly customers: number
  readonly concurrentSessions: number
  readonly turnsPerSession: number
  readonly candidateVariablesPerTurn: number
  readonly invalidShare: number
  readonly payloadBytesMean: number
  readonly payloadBytesMax: number
  readonly partitions: number
}

export const makeWorkload = (events: number): Workload => {
  const traffic = makeSyntheticTraffic(workloadOptions)
  const lines: Array<TrafficLine> = []
  const turnIds: Array<string> = []
  const sessions = new Set<string>()
  const customers = new Set<string>()
  let candidates = 0
  let bytes = 0
  let maxBytes = 0
  let ended = 0
  let closed = 0
  for (let i = 0; i < events; i++) {
    const line = traffic.next()
    lines.push(line)
    const event = JSON.parse(line.value) as {
      event_type: string
      turn_id?: string
      tenant_id: string
      session_id: string
      customer_id: string
      candidate_variables?: Record<string, unknown>
    }
    const size = Buffer.byteLength(line.value)
    bytes += size
    maxBytes = Math.max(maxBytes, size)
    sessions.add(`${event.tenant_id}/${event.session_id}`)
    customers.add(`${event.tenant_id}/${event.customer_id}`)
    if (event.event_type === "turn.completed") {
      turnIds.push(event.turn_id!)
      candidates += Object.keys(event.candidate_variables ?? {}).length
    } else if (event.event_type === "session.ended") ended++
    else closed++
  }
  return {
    lines,
    turnIds,
    stats: {
      events,
      turns: turnIds.length,
      sessionEnded: ended,
      caseClosed: closed,
      sessions: sessions.size,
      tenants: workloadOptions.tenants,
      customers: customers.size,
      concurrentSessions: workloadOptions.concurrentSessions,
      turnsPerSession: workloadOptions.turnsPerSession,
      candidateVariablesPerTurn: Math.round((candidates / Math.max(1, turnIds.length)) * 100) / 100,
      invalidShare: workloadOptions.invalidShare,
      payloadBytesMean: Math.round(bytes / Math.max(1, events)),
      payloadBytesMax: maxBytes,
      partitions: PARTITIONS
    }
  }
}

/** The field definitions of the workload, decoded as the stores hold them. */
export const workloadDefinitions = () =>
  Schema.decodeUnknownSync(Schema.Array(FieldDefinition))(
    syntheticDefinitions(makeSyntheticTraffic(workloadOptions).tenants, AGENTS)
  )
