/**
 * The admin API, called with the key the user entered, and the page's actions around its calls.
 * Calls are relative to /ui/ ("../v1/..."), so the page also works behind a proxy that adds a prefix.
 */
import { byId } from "./dom.js"

/** sessionStorage: the key lasts as long as the tab, and never reaches the URL or localStorage. */
export const keyStorage = "turnvault.inspector.key"

export class ApiError extends Error {}

/** A GET on the admin API with the key; a refusal becomes an ApiError whose message says why. */
export const api = async (route) => {
  const key = sessionStorage.getItem(keyStorage)
  if (key === null) throw new ApiError("Enter an API key first.")
  let response
  try {
    response = await fetch(`../v1${route}`, {
      headers: { authorization: `Bearer ${key}` },
      cache: "no-store"
    })
  } catch (cause) {
    throw new ApiError(`The API did not answer (${cause.message}).`)
  }
  if (response.ok) return response.json()
  const body = await response.json().catch(() => null)
  const reason = body?.message ?? response.statusText
  const hints = {
    401: " The key is unknown, revoked or mistyped: enter another one.",
    404: " Nothing of this key's tenant has that id.",
    429: " Too many requests for this key: wait a moment and try again."
  }
  throw new ApiError(`The API answered ${response.status}: ${reason}.${hints[response.status] ?? ""}`)
}

const showError = (error) => {
  const box = byId("error")
  box.textContent = error instanceof ApiError ? error.message : `Unexpected error: ${error}`
  box.hidden = false
}

/**
 * Runs a user action: clears the last error, and shows this one's. Each view remembers its newest
 * request, so an answer that arrives after a newer click (or a key change) is dropped, not shown.
 */
let requests = 0
const newest = new Map()
export const action =
  (view, run) =>
  async (...args) => {
    const ticket = ++requests
    newest.set(view, ticket)
    byId("error").hidden = true
    try {
      await run(() => newest.get(view) === ticket, ...args)
    } catch (error) {
      if (newest.get(view) === ticket) showError(error)
    }
  }

/** Forgets every view's newest request: answers still under way are dropped (a key change). */
export const dropPendingAnswers = () => newest.clear()
