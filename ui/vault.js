/** A customer's vault as the page shows it: each field's values with their history, and lineage. */
import { el, instant, show } from "./dom.js"

const statusOrder = ["active", "superseded", "expired", "orphaned", "deleted"]

/** One field name: its active value(s) first, then its history, newest first; `onLineage(row)` on a click. */
export const fieldView = (name, rows, onLineage) => {
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
      el("td", {}, el("button", { type: "button", class: "link", onclick: () => onLineage(row) }, "lineage"))
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

export const lineageItem = (row, onLineage) =>
  el(
    "li",
    { "data-item": row.id },
    `${row.name} = ${show(row.value)} (${row.status}) · ${row.id} `,
    el("button", { type: "button", class: "link", onclick: () => onLineage(row) }, "lineage")
  )
