/**
 * Building the page: everything shown is tenant data, so the DOM is made with createElement and
 * text nodes only (`el`): no value is ever parsed as HTML.
 */

export const byId = (id) => document.getElementById(id)

/** An element with attributes, a click handler and children (strings become text nodes). */
export const el = (tag, props, ...children) => {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(props ?? {})) {
    if (name === "onclick") node.addEventListener("click", value)
    else node.setAttribute(name, value)
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child)
  return node
}

/** A path with each interpolated value percent-encoded (ids may hold `/`, `?` or `:`). */
export const path = (strings, ...values) =>
  strings.reduce((out, part, i) => out + part + (i < values.length ? encodeURIComponent(values[i]) : ""), "")

/** Instants in UTC, to the second: the stored ones carry their own offsets. */
export const instant = (iso) => {
  const date = new Date(iso)
  return Number.isNaN(date.getTime())
    ? String(iso)
    : date
        .toISOString()
        .replace("T", " ")
        .replace(/\.\d+Z$/, " UTC")
}

export const show = (value) => (typeof value === "string" ? value : JSON.stringify(value))

/** A list of strings, or "none". */
export const items = (values) =>
  values.length === 0 ? "none" : el("ul", {}, ...values.map((value) => el("li", {}, value)))
