/**
 * The inspector page: asks for a tenant's API key, then reads the admin API with it. Calls are
 * relative to /ui/ ("../v1/..."), so the page also works behind a proxy that adds a prefix.
 *
 * Everything shown is tenant data, so the page builds its DOM with createElement and text nodes
 * only (`el` below): no value is ever parsed as HTML.
 */

/** sessionStorage: the key lasts as long as the tab, and never reaches the URL or localStorage. */
const keyStorage = "turnvault.inspector.key"
const sessionPageSize = 20
const turnPageSize = 100

const byId = (id) => document.getElementById(id)

/** An element with attributes, a click handler and children (strings become text nodes). */
const el = (tag, props, ...children) => {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(props ?? {})) {
    if (name === "onclick") node.addEventListener("click", value)
    else node.setAttribute(name, value)
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child)
  return node
}

/** A path with each interpolated value percent-encoded (ids may hold `/`, `?` or `:`). */
const path = (strings, ...values) =>
  strings.reduce((out, part, i) => out + part + (i < values.length ? encodeURIComponent(values[i]) : ""), "")

/** Instants in UTC, to the second: the stored ones carry their own offsets. */
const instant = (iso) => {
  const date = new Date(iso)
  return Number.isNaN(date.getTime())
    ? String(iso)
    : date
        .toISOString()
        .replace("T", " ")
        .replace(/\.\d+Z$/, " UTC")
}

const show = (value) => (typeof value === "string" ? value : JSON.stringify(value))

// ---- The API --------------------------------------------------------------------------------

class ApiError extends Error {}

/** A GET on the admin API with the key; a refusal becomes an ApiError whose message says why. */
const api = async (route) => {
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

// ---- Errors and stale answers ---------------------------------------------------------------

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
const action =
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

/** A list of strings, or "none". */
const items = (values) =>
  values.length === 0 ? "none" : el("ul", {}, ...values.map((value) => el("li", {}, value)))

const updatesView = (updates) => {
  if (updates.length === 0) return "none"
  const head = el(
    "tr",
    {},
    ...["field", "status", "scope", "change", "validation"].map((h) => el("th", {}, h))
  )
  const rows = updates.map((u) =>
    el(
      "tr",
      {},
      el("td", {}, u.field_name),
      el("td", { class: u.status === "rejected" ? "failed" : "" }, u.status),
      el("td", {}, u.scope ?? ""),
      el("td", {}, u.is_update === undefined ? "" : u.is_update ? "changed" : "new"),
      el("td", {}, u.validation_error ?? "")
    )
  )
  return el("table", { class: "updates" }, el("thead", {}, head), el("tbody", {}, ...rows))
}

/** Matched rules with their scores; older records kept only the ids. */
const rulesText = (turn) =>
  (turn.matched_rules ?? turn.matched_rule_ids.map((rule_id) => ({ rule_id }))).map((rule) =>
    rule.score === undefined ? rule.rule_id : `${rule.rule_id} (score ${rule.score})`
  )

const scenarioText = (scenario) => {
  if (scenario === undefined) return ["not recorded"]
  if (scenario === null) return ["none"]
  const lines = [
    `${scenario.active_scenario_id ?? "no scenario"} / step ${scenario.current_step_id ?? "-"}${
      scenario.awaiting_user_input ? " · awaiting user input" : ""
    }`
  ]
  for (const [id, decision] of Object.entries(scenario.lifecycle_decisions ?? {}))
    lines.push(`${id}: ${decision}`)
  for (const [id, step] of Object.entries(scenario.step_transitions ?? {})) {
    lines.push(
      `${id}: ${step.from_step ?? "start"} → ${step.to_step}${step.reason ? ` (${step.reason})` : ""}`
    )
  }
  return lines
}

const toolsText = (turn) => {
  if (turn.tool_executions === undefined) return [`${turn.tool_failures} failed (details not recorded)`]
  return turn.tool_executions.map(
    (tool) =>
      `${tool.tool_id}: ${tool.success ? "ok" : "failed"}${tool.error ? ` (${tool.error})` : ""}${
        tool.duration_ms === undefined ? "" : ` · ${tool.duration_ms} ms`
      }`
  )
}

const enforcementText = (turn) => {
  const violations =
    turn.policy_violations.length === 0 ? "no violations" : `violations: ${turn.policy_violations.join(", ")}`
  if (!turn.enforcement) return [violations]
  const { blocked, regeneration_attempts } = turn.enforcement
  return [
    `${blocked ? "blocked" : "not blocked"} · ${regeneration_attempts} regeneration attempts · ${violations}`
  ]
}

const categoriesText = (outcome) =>
  outcome.categories.map((c) => {
    const where = c.scenario_id ? ` (${c.scenario_id}${c.step_id ? ` / ${c.step_id}` : ""})` : ""
    return `${c.category}${where}${c.details ? `: ${c.details}` : ""}`
  })

const turnView = (turn) => {
  const row = (label, value) => [el("dt", {}, label), el("dd", {}, value)]
  return el(
    "li",
    { class: "turn", "data-turn": String(turn.turn_number) },
    el(
      "h3",
      {},
      `Turn ${turn.turn_number} · ${instant(turn.occurred_at)} · `,
      el("span", { class: `resolution ${turn.outcome.resolution}` }, turn.outcome.resolution)
    ),
    el(
      "dl",
      {},
      ...row("Turn id", turn.turn_id),
      ...(turn.canonical_intent ? row("Intent", turn.canonical_intent) : []),
      ...row("Outcome categories", items(categoriesText(turn.outcome))),
      ...row("Customer-data updates", updatesView(turn.customer_data_updates)),
      ...row("Matched rules", items(rulesText(turn))),
      ...row("Scenario", items(scenarioText(turn.scenario))),
      ...row("Tools", items(toolsText(turn))),
      ...row("Enforcement", items(enforcementText(turn))),
      ...(turn.missing_fields?.length
        ? row(
            "Missing fields",
            items(turn.missing_fields.map((m) => `${m.field_name} (${m.fallback_action})`))
          )
        : [])
    )
  )
}

// ---- A customer's vault and lineage ---------------------------------------------------------

const statusOrder = ["active", "superseded", "expired", "orphaned", "deleted"]

/** One field name: its active value(s) first, then its history, newest first. */
const fieldView = (name, rows) => {
  const sorted = [...rows].sort(
    (a, b) =>
      statusOrder.indexOf(a.status) - statusOrder.indexOf(b.status) ||
      Date.parse(b.updated_at) - Date.parse(a.updated_at)
  )
  const head = el(
    "tr",
    {},
    ...["value", "status", "source", "confidence", "updated", "from", ""].map((h) => el("th", {}, h))
  )
  const body = sorted.map((row) =>
    el(
      "tr",
      { class: row.status === "active" ? "current" : "old", "data-item": row.id },
      el("td", { class: "value" }, show(row.value)),
      el("td", { class: row.status }, row.status),
      el("td", {}, row.source),
      el("td", {}, String(row.confidence)),
      el("td", {}, instant(row.updated_at)),
      el("td", {}, `${row.source_item_type} ${row.source_item_id}`),
      el(
        "td",
        {},
        el("button", { type: "button", class: "link", onclick: () => openLineage(row) }, "lineage")
      )
    )
  )
  const active = rows.some((row) => row.status === "active")
  return el(
    "article",
    { class: "field", "data-field": name },
    el("h3", {}, active ? name : `${name} (no active value)`),
    el("table", {}, el("thead", {}, head), el("tbody", {}, ...body))
  )
}

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
    ...names.map((name) => fieldView(name, byName.get(name))),
    el("h3", {}, "Assets"),
    items(assetLines)
  )
})

const lineageItem = (row) =>
  el(
    "li",
    { "data-item": row.id },
    `${row.name} = ${show(row.value)} (${row.status}) · ${row.id} `,
    el("button", { type: "button", class: "link", onclick: () => openLineage(row) }, "lineage")
  )

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
      : el("ol", { class: "chain" }, ...sources.map(lineageItem)),
    el("h4", {}, "Derived into"),
    derived.items.length === 0
      ? el("p", {}, "nothing")
      : el("ul", { class: "derived" }, ...derived.items.map(lineageItem))
  )
  box.hidden = false
})

// ---- The key --------------------------------------------------------------------------------

/** Empties every view and forgets the cursors, and drops answers still under way. */
const resetViews = () => {
  newest.clear()
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
