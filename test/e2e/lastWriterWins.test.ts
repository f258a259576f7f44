/**
 * Last writer wins across a customer's sessions, whatever the arrival order (DESIGN 8): for every
 * (tenant, customer, field) the active value is the latest valid update by (occurred_at, turn_id),
 * for any interleaving of the sessions' events that keeps each session's own order. This is the
 * guarantee one owner per customer gives the service; here through the whole `process` flow.
 *
 * The case fast-check first found (when it was a bug): s0 sets max at 10:00 and sends max again at
 * 10:01 (`unchanged`: no new version), then s1's basic at 10:00 arrives. It must be stored
 * superseded: the latest update is max at 10:01, which the active row records as its confirmation.
 *
 * CASE values add case closures: each session works on a case of its own and may close it. The
 * active value is still the latest valid update, unless that update's case closed after it, and
 * then there is none; an older value of another case arriving after the closure stays superseded.
 */
import { Effect, FastCheck as fc } from "effect"
import { describe, expect, it } from "vitest"
import { caseClosed, def, turn } from "../support/events"
import { runProcess } from "../support/pipeline"

const defs = [def("plan", "enum", "BUSINESS", { validation: { allowed_values: ["basic", "pro", "max"] } })]

/** Sessions s0..s2 of customer c1, each a run of updates; "bad" is an invalid value (rejected). */
const sessionsArb = fc.array(
  fc.array(
    fc.record({
      minute: fc.integer({ min: 0, max: 30 }),
      plan: fc.constantFrom("basic", "pro", "max", "bad")
    }),
    { minLength: 1, maxLength: 5 }
  ),
  { minLength: 1, maxLength: 3 }
)

/** Interleaves the sessions by `picks`, keeping each session's events in order. */
const interleave = <E>(sessions: ReadonlyArray<ReadonlyArray<E>>, picks: ReadonlyArray<number>) => {
  const queues = sessions.map((s) => [...s])
  const out: Array<E> = []
  let i = 0
  while (queues.some((q) => q.length > 0)) {
    const open = queues.filter((q) => q.length > 0)
    out.push(open[(picks[i++] ?? 0) % open.length]!.shift()!)
  }
  return out
}

const ticketDefs = [def("ticket", "string", "CASE")]

/** A session's events: ticket updates, and `null` for the closure of the session's case. */
interface TicketEvent {
  readonly session: string
  readonly minute: number
  readonly ticket: string | null
}

const ticketSessionsArb = fc.array(
  fc.array(
    fc.record({
      minute: fc.integer({ min: 0, max: 30 }),
      ticket: fc.constantFrom("T-1", "T-2", "T-3", null)
    }),
    { minLength: 1, maxLength: 6 }
  ),
  { minLength: 1, maxLength: 3 }
)

/** Whether the session closes its case after its `turnNumber`-th turn (in the session's own order). */
const closedLater = (
  sessions: ReadonlyArray<ReadonlyArray<TicketEvent>>,
  session: string,
  turnNumber: number
) => {
  const events = sessions.find((s) => s[0]?.session === session) ?? []
  let seen = 0
  for (const e of events) {
    if (e.ticket !== null) seen++
    else if (seen >= turnNumber) return true
  }
  return false
}

/** Last-writer-wins order: (occurred_at, turn_id). */
const bySent = (
  a: { readonly occurred_at: string; readonly turn_id: string },
  b: { readonly occurred_at: string; readonly turn_id: string }
) =>
  a.occurred_at === b.occurred_at ? (a.turn_id < b.turn_id ? -1 : 1) : a.occurred_at < b.occurred_at ? -1 : 1

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 10, minute)).toISOString()

describe("last writer wins across a customer's sessions", () => {
  it("the active value is the latest valid update by (occurred_at, turn_id), whatever the interleaving", () =>
    fc.assert(
      fc.asyncProperty(sessionsArb, fc.array(fc.nat(), { maxLength: 15 }), async (raw, picks) => {
        const sessions = raw.map((updates, s) => updates.map((u) => ({ ...u, session: `s${s}` })))
        const order = interleave(sessions, picks)
        const numbers = new Map<string, number>()
        const lines = order.map((u) => {
          const n = (numbers.get(u.session) ?? 0) + 1
          numbers.set(u.session, n)
          return turn({ session: u.session, turn: n, at: at(u.minute), vars: { plan: u.plan } })
        })
        const valid = lines.filter((l) => l.candidate_variables.plan?.value !== "bad")
        const latest = [...valid].sort(bySent)
        const out = await Effect.runPromise(runProcess(defs, lines))
        const active = out.profile.filter((r) => r.status === "active")
        if (latest.length === 0) expect(active).toEqual([])
        else expect(active.map((r) => r.value)).toEqual([latest.at(-1)!.candidate_variables.plan!.value])
        expect(out.dlq).toEqual([])
      }),
      { numRuns: 60 }
    ))

  it("with case closures, the latest update is active unless its case closed after it, whatever the interleaving", () =>
    fc.assert(
      fc.asyncProperty(
        ticketSessionsArb,
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.constantFrom("1", "4"),
        async (raw, picks, batchSize) => {
          const sessions = raw.map((events, s) => events.map((e) => ({ ...e, session: `s${s}` })))
          const order = interleave(sessions, picks)
          const numbers = new Map<string, number>()
          const turns: Array<ReturnType<typeof turn>> = []
          const lines = order.map((e) => {
            const caseId = `case-${e.session}`
            if (e.ticket === null) return caseClosed({ session: e.session, caseId, at: at(e.minute) })
            const n = (numbers.get(e.session) ?? 0) + 1
            numbers.set(e.session, n)
            const line = turn({
              session: e.session,
              turn: n,
              at: at(e.minute),
              caseId,
              vars: { ticket: e.ticket }
            })
            turns.push(line)
            return line
          })
          const latest = [...turns].sort(bySent)
          const last = latest.at(-1)
          // none when the session closed its case after that turn (in the session's own order)
          const closedAfter = last !== undefined && closedLater(sessions, last.session_id, last.turn_number)
          const out = await Effect.runPromise(
            runProcess(ticketDefs, lines, { TURNVAULT_BATCH_SIZE: batchSize })
          )
          const active = out.profile.filter((r) => r.status === "active")
          if (last === undefined || closedAfter) expect(active).toEqual([])
          else expect(active.map((r) => r.value)).toEqual([last.candidate_variables.ticket!.value])
          expect(out.dlq).toEqual([])
        }
      ),
      { numRuns: 80 }
    ))
})
