/**
 * Transient or permanent: what a failed store call says about retrying it. Connection loss,
 * timeouts, serialisation failures, deadlocks and a server shutting down pass; the batch pauses
 * and retries them for as long as it takes. A statement the database refuses for what it
 * contains (SQLSTATE classes below) fails the same way every time: the stream retries it a few
 * times, then isolates the session it belongs to (quarantine) so the partition moves on.
 */

/** SQLSTATE classes that retrying the same statement does not change. */
const PERMANENT_CLASSES = new Set([
  "0A", // feature not supported
  "21", // cardinality violation
  "22", // data exception: invalid text, numeric out of range, NUL bytes, ...
  "23", // integrity constraint violation
  "2F", // SQL routine exception
  "42", // syntax error or access rule violation (a bug, or a missing migration)
  "44", // WITH CHECK OPTION violation
  "54", // program limit exceeded: index row too large, too many columns, ...
  "P0" // raised by PL/pgSQL (a trigger's RAISE EXCEPTION)
])

const SQLSTATE = /^[0-9A-Z]{5}$/

/** An error and everything behind it (PersistenceError → store errors → pg errors), breadth first. */
export const causeChain = (error: unknown): Array<object> => {
  const chain: Array<object> = []
  const pending: Array<unknown> = [error]
  while (pending.length > 0 && chain.length < 64) {
    const next = pending.shift()
    if (typeof next !== "object" || next === null) continue
    chain.push(next)
    const fields = next as { cause?: unknown; failures?: unknown }
    if (fields.cause !== undefined) pending.push(fields.cause)
    if (Array.isArray(fields.failures)) pending.push(...fields.failures)
  }
  return chain
}

/** The SQLSTATE an error of the chain carries, or null. */
export const sqlStateOf = (error: object): string | null => {
  const code = (error as { code?: unknown }).code
  return typeof code === "string" && SQLSTATE.test(code) ? code : null
}

/**
 * The SQLSTATE of the statement the database refused for good, else null (transient or unknown).
 * The concurrent statements of one transaction fail after it with 25P02 (the transaction is
 * aborted): that is its consequence, so any permanent state among them decides.
 */
export const permanentRefusal = (error: unknown): string | null => {
  for (const link of causeChain(error)) {
    const state = sqlStateOf(link)
    if (state !== null && PERMANENT_CLASSES.has(state.slice(0, 2))) return state
  }
  return null
}
