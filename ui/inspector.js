/**
 * The inspector page: asks for a tenant's API key, then reads the admin API with it. A session's
 * turns in order; a customer's vault with history and lineage. The modules: dom.js (building
 * the DOM safely), api.js (the calls), turns.js and vault.js (the views).
 */
import { action, api, dropPendingAnswers, keyStorage } from "./api.js"
import { byId, el, instant, items, path, show } from "./dom.js"
import { turnView } from "./turns.js"
import { fieldView, lineageItem } from "./vault.js"

const sessionPageSize = 20
const turnPageSize = 100

// ---- Sessions and their turns ---------------------------------------------------------------

let sessionsCursor = null
let turnsCursor = null
let shownSession = null

const loadSessions = action("sessions", async (current, more) => {
  const query = new URLSearchParams({ limit: String(sessionPageSize) })
  if (more && sessionsCursor !== null) query.set("cursor", sessionsCursor)
  const page = await api(`/sessions?${query}`)
  if (!current()) return
  const list = byId("session-list")
  if (!more) list.replaceChildren()
  for (const session of page.sessions) {
    list.append(
      el(
        "li",
        { "data-session": session.session_id },
        el(
          "button",
          { type: "button", class: "link", onclick: () => openSession(session.session_id) },
          session.session_id
        ),
        el(
          "span",
          { class: "meta" },
          `${session.customer_id} · ${session.status} · ${session.turn_count} turns · ${instant(session.updated_at)}`
        )
      )
    )
  }
  sessionsCursor = page.next_cursor
  byId("more-sessions").hidden = page.next_cursor === null
})

const openSession = action("session", async (current, sessionId) => {
  const [session, page] = await Promise.all([
    api(path`/sessions/${sessionId}`),
    api(path`/sessions/${sessionId}/turns?limit=${turnPageSize}`)
  ])
  if (!current()) return
  shownSession = session
  for (const item of byId("session-list").children)
    item.classList.toggle("picked", item.dataset.session === sessionId)
  byId("session-title").textContent = `Session ${session.session_id}`
  const lifecycle = session.lifecycle
  byId("session-summary").textContent = [
    `agent ${session.agent_id}`,
    session.status,
    `${session.turn_count} turns`,
    lifecycle?.active_scenario_id
      ? `scenario ${lifecycle.active_scenario_id} / ${lifecycle.current_step_id ?? "-"}`
      : null,
    `updated ${instant(session.updated_at)}`
  ]
    .filter((part) => part !== null)
    .join(" · ")
  byId("open-customer").textContent = `Open the vault of customer ${session.customer_id}`
  byId("turns").replaceChildren(...page.turns.map(turnView))
  turnsCursor = page.next_cursor
  byId("more-turns").hidden = page.next_cursor === null
  byId("session").hidden = false
})

const moreTurns = action("session", async (current) => {
  if (shownSession === null || turnsCursor === null) return
  const query = new URLSearchParams({ limit: String(turnPageSize), cursor: turnsCursor })
  const page = await api(`${path`/sessions/${shownSession.session_id}/turns`}?${query}`)
  if (!current()) return
  byId("turns").append(...page.turns.map(turnView))
  turnsCursor = page.next_cursor
  byId("more-turns").hidden = page.next_cursor === null
})

// ---- A customer's vault and lineage ---------------------------------------------------------

const openCustomer = action("customer", async (current, customerId) => {
  // cleared first: after a refusal, the previous customer's vault must not look like this one's
  byId("vault").replaceChildren()
  byId("lineage").hidden = true
  byId("customer-title").textContent = "Customer vault"
  const [vault, assets] = await Promise.all([
    api(path`/customers/${customerId}/fields?history=true`),
    api(path`/customers/${customerId}/assets`)
  ])
  if (!current()) return
  byId("customer-id").value = customerId
  byId("customer-title").textContent = `Customer vault: ${customerId}`
  const byName = new Map()
  for (const row of vault.fields) byName.set(row.name, [...(byName.get(row.name) ?? []), row])
  const names = [...byName.keys()].sort()
  const assetLines = assets.assets.map(
    (a) =>
      `${a.kind} ${a.id} · ${a.mime_type} · ${a.size_bytes} bytes · ${a.uri ?? a.inline_ref ?? ""} · ${a.status}`
  )
  byId("vault").replaceChildren(
    names.length === 0 ? el("p", {}, "No fields.") : "",
    ...names.map((name) => fieldView(name, byName.get(name), openLineage)),
    el("h3", {}, "Assets"),
    items(assetLines)
  )
})

/** What the item derives from (nearest first) and what derives from it. */
const openLineage = action("lineage", async (current, row) => {
  const [chain, derived] = await Promise.all([
    api(path`/items/${row.id}/chain`),
    api(path`/items/${row.id}/derived`)
  ])
  if (!current()) return
  const sources = chain.items.filter((item) => item.id !== row.id)
  const box = byId("lineage")
  box.replaceChildren(
    el("h3", {}, `Lineage of ${row.name} = ${show(row.value)} (${row.id})`),
    el("h4", {}, "Derives from (nearest first)"),
    sources.length === 0
      ? el("p", {}, "nothing: an original value")
      : el("ol", { class: "chain" }, ...sources.map((item) => lineageItem(item, openLineage))),
    el("h4", {}, "Derived into"),
    derived.items.length === 0
      ? el("p", {}, "nothing")
      : el("ul", { class: "derived" }, ...derived.items.map((item) => lineageItem(item, openLineage)))
  )
  box.hidden = false
})

// ---- The key --------------------------------------------------------------------------------

/** Empties every view and forgets the cursors, and drops answers still under way. */
const resetViews = () => {
  dropPendingAnswers()
  sessionsCursor = null
  turnsCursor = null
  shownSession = null
  for (const id of ["session-list", "turns", "vault", "lineage"]) byId(id).replaceChildren()
  byId("session").hidden = true
  byId("lineage").hidden = true
  byId("customer-title").textContent = "Customer vault"
  byId("error").hidden = true
}

const showKeyState = () => {
  const haveKey = sessionStorage.getItem(keyStorage) !== null
  byId("main").hidden = !haveKey
  byId("intro").hidden = haveKey
  byId("forget-key").hidden = !haveKey
}

byId("key-form").addEventListener("submit", (event) => {
  event.preventDefault()
  const input = byId("key")
  sessionStorage.setItem(keyStorage, input.value.trim())
  input.value = ""
  resetViews()
  showKeyState()
  loadSessions(false)
})

byId("forget-key").addEventListener("click", () => {
  sessionStorage.removeItem(keyStorage)
  resetViews()
  showKeyState()
})

byId("customer-form").addEventListener("submit", (event) => {
  event.preventDefault()
  const customerId = byId("customer-id").value.trim()
  if (customerId !== "") openCustomer(customerId)
})

byId("more-sessions").addEventListener("click", () => loadSessions(true))
byId("more-turns").addEventListener("click", () => moreTurns())
byId("open-customer").addEventListener("click", () => {
  if (shownSession !== null) openCustomer(shownSession.customer_id)
})

showKeyState()
if (sessionStorage.getItem(keyStorage) !== null) loadSessions(false)
