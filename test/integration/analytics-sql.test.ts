/**
 * The conversation-analytics dashboard against a real PostgreSQL: `turnvault start` runs on the
 * embedded log with synthetic traffic and DATABASE_URL set, filling a fresh database; then every
 * SQL query of dashboards/turnvault-analytics.json (its template variables included) runs with
 * Grafana's macros expanded as Grafana's PostgreSQL data source expands them, and must return rows.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { readFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import pg from "pg"
import { freePort, sleep, stopChild } from "../support/child"
import { freshDatabase, type TestDatabase } from "../support/postgres"

const repoRoot = resolve(import.meta.dirname, "..", "..")

/** A Grafana interval (`30s`, `5m`, `1h`, `1d`) in seconds. */
const seconds = (interval: string) => {
  const match = /^'?(\d+)([smhd])'?$/.exec(interval.trim())
  if (match === null) throw new Error(`unsupported interval ${interval}`)
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as "s" | "m" | "h" | "d"]
}

interface Range {
  readonly from: string
  readonly to: string
}

/**
 * Grafana's PostgreSQL macros and variables, expanded as the data source does:
 * `$__timeFilter(c)` → `c BETWEEN 'from' AND 'to'`, `$__timeGroupAlias(c, i)` →
 * `floor(extract(epoch from c)/i)*i AS "time"`, multi-value variables → quoted lists.
 */
const expand = (sql: string, range: Range, variables: Readonly<Record<string, ReadonlyArray<string>>>) => {
  let out = sql.replaceAll("$__interval", "'1h'")
  out = out.replace(/\$__timeFilter\(([^)]+)\)/g, (_, column: string) => {
    return `${column.trim()} BETWEEN '${range.from}' AND '${range.to}'`
  })
  out = out.replace(/\$__timeGroupAlias\(([^,]+),([^)]+)\)/g, (_, column: string, interval: string) => {
    const s = seconds(interval)
    return `floor(extract(epoch from ${column.trim()})/${s})*${s} AS "time"`
  })
  for (const [name, values] of Object.entries(variables)) {
    const list = values.map((v) => `'${v.replaceAll("'", "''")}'`).join(",")
    out = out.replaceAll(`$${name}`, list)
  }
  if (out.includes("$")) throw new Error(`unexpanded macro or variable in:\n${out}`)
  return out
}

interface Target {
  readonly rawSql?: string
  readonly format?: string
}
interface Panel {
  readonly title?: string
  readonly type: string
  readonly targets?: ReadonlyArray<Target>
  readonly panels?: ReadonlyArray<Panel>
}
interface Dashboard {
  readonly panels: ReadonlyArray<Panel>
  readonly templating: { readonly list: ReadonlyArray<{ readonly name: string; readonly query: string }> }
}

describe("the analytics dashboard over a PostgreSQL filled by a run", () => {
  let db: TestDatabase | undefined
  let client: pg.Client | undefined
  let dashboard: Dashboard
  const range: Range = { from: "2000-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z" }
  const variables: Record<string, ReadonlyArray<string>> = {}

  beforeAll(async () => {
    dashboard = JSON.parse(
      await readFile(join(repoRoot, "dashboards", "turnvault-analytics.json"), "utf8")
    ) as Dashboard
    db = await freshDatabase()
    client = new pg.Client({ connectionString: db.url })
    await client.connect()

    const env = { ...process.env }
    for (const key of ["KAFKA_BROKERS", "REDIS_URL"]) delete env[key]
    const output: Array<string> = []
    const child = spawn(process.execPath, ["bin/turnvault.mjs", "start"], {
      cwd: repoRoot,
      env: {
        ...env,
        DATABASE_URL: db.url,
        TURNVAULT_HTTP_PORT: String(await freePort()),
        TURNVAULT_SYNTHETIC_RATE: "1500",
        TURNVAULT_PARTITIONS: "4"
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    child.stdout.on("data", (c: Buffer) => output.push(c.toString("utf8")))
    child.stderr.on("data", (c: Buffer) => output.push(c.toString("utf8")))
    try {
      // Enough turns that every outcome category and validation error of the traffic shows up.
      const deadline = Date.now() + 90_000
      for (;;) {
        const { rows } = await client
          .query<{ n: string }>("SELECT count(*) AS n FROM turn_records")
          .catch(() => ({ rows: [{ n: "0" }] }))
        if (Number(rows[0]!.n) >= 1_500) break
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`turnvault wrote ${rows[0]!.n} turn records\n${output.join("").slice(-4000)}`)
        }
        await sleep(500)
      }
    } finally {
      await stopChild(child, { graceMs: 15_000 })
    }

    // Template variables, in order: a later one may use an earlier one ($agent uses $tenant).
    for (const variable of dashboard.templating.list) {
      const { rows } = await client.query(expand(variable.query, range, variables))
      variables[variable.name] = rows.map((r) => String(Object.values(r)[0]))
    }
  }, 180_000)

  afterAll(async () => {
    await client?.end()
    await db?.drop()
  })

  const queries = () =>
    dashboard.panels
      .flatMap((p) => [p, ...(p.panels ?? [])])
      .flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title ?? "", target })))

  it("every template variable has values", () => {
    expect(Object.keys(variables)).toEqual(["tenant", "agent"])
    expect(variables.tenant!.length).toBeGreaterThan(1)
    expect(variables.agent!.length).toBeGreaterThan(1)
  })

  it("every SQL query of the dashboard returns rows", async () => {
    const all = queries()
    expect(all.length).toBeGreaterThanOrEqual(12)
    const empty: Array<string> = []
    for (const { panel, target } of all) {
      const { rows, fields } = await client!.query(expand(target.rawSql ?? "", range, variables))
      if (rows.length === 0) empty.push(panel)
      // Grafana's time series format needs a `time` column and numeric values.
      if (target.format === "time_series") {
        expect(
          fields.map((f) => f.name),
          panel
        ).toContain("time")
      }
    }
    expect(empty).toEqual([])
  })

  it("a tenant filter narrows every query to that tenant's rows", async () => {
    const tenant = variables.tenant![0]!
    const one = { ...variables, tenant: [tenant] }
    const sql = expand(
      "SELECT DISTINCT tenant_id FROM turn_records WHERE $__timeFilter(occurred_at) AND tenant_id IN ($tenant)",
      range,
      one
    )
    expect((await client!.query(sql)).rows).toEqual([{ tenant_id: tenant }])
    for (const { panel, target } of queries()) {
      const { rows } = await client!.query(expand(target.rawSql ?? "", range, one))
      if (rows.length > 0 && "tenant" in rows[0]!) {
        expect(new Set(rows.map((r) => r.tenant)), panel).toEqual(new Set([tenant]))
      }
    }
  })

  it("the zero-rule, category and validation panels see what the run produced", async () => {
    const { rows } = await client!.query<{ zero: string; errors: string; categories: string }>(`
      SELECT
        (SELECT count(*) FROM turn_records
          WHERE record->'outcome'->'categories' @> '[{"category": "MATCHED_ZERO_RULES"}]') AS zero,
        (SELECT count(*) FROM turn_records, jsonb_array_elements(record->'customer_data_updates') u
          WHERE u->>'validation_error' IS NOT NULL) AS errors,
        (SELECT count(DISTINCT c->>'category') FROM turn_records,
          jsonb_array_elements(record->'outcome'->'categories') c) AS categories`)
    expect(Number(rows[0]!.zero)).toBeGreaterThan(0)
    expect(Number(rows[0]!.errors)).toBeGreaterThan(0)
    expect(Number(rows[0]!.categories)).toBeGreaterThanOrEqual(3)
  })
})
