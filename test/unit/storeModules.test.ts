/**
 * Module boundaries of the PostgreSQL adapters: each store writes only its own tables, so the
 * stores can later live in different systems (DESIGN 4, issue: PostgreSQL adapters).
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

const dir = join(import.meta.dirname, "..", "..", "src", "adapters", "postgres")
const owners: Record<string, ReadonlyArray<string>> = {
  "PgSessionStore.ts": ["sessions"],
  "PgProfileStore.ts": [
    "profile_fields",
    "field_definitions",
    "scenario_requirements",
    "profile_tombstones",
    "profile_assets"
  ],
  "profileSql.ts": ["profile_fields", "field_definitions", "profile_tombstones", "profile_assets"],
  "PgAuditStore.ts": ["turn_records", "session_history"],
  "PgApiKeys.ts": ["api_keys", "admin_actions"],
  // the tenant path binds its connections (through the processor's pool), and writes nothing else
  "TenantReader.ts": ["tenant_bindings"]
}
const tables = [
  "sessions",
  "session_history",
  "field_definitions",
  "scenario_requirements",
  "profile_tombstones",
  "profile_assets",
  "profile_fields",
  "turn_records",
  "tenant_bindings",
  "api_keys",
  "admin_actions"
]

/** Tables a source file writes: targets of INSERT INTO, UPDATE, DELETE FROM, TRUNCATE. */
const writtenTables = (source: string) =>
  new Set(
    [...source.matchAll(/\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE)\s+"?([a-z_]+)"?/gi)]
      .map((m) => m[1]!.toLowerCase())
      .filter((t) => tables.includes(t))
  )

describe("PostgreSQL store modules", () => {
  it("each store module writes only its own tables", () => {
    for (const [file, own] of Object.entries(owners)) {
      const written = writtenTables(readFileSync(join(dir, file), "utf8"))
      expect(written.size, `${file} writes nothing?`).toBeGreaterThan(0)
      expect(
        [...written].filter((t) => !own.includes(t)),
        file
      ).toEqual([])
    }
  })

  it("no other module of the adapter writes a store table", () => {
    const others = readdirSync(dir).filter((f) => f.endsWith(".ts") && !(f in owners))
    for (const file of others) {
      expect([...writtenTables(readFileSync(join(dir, file), "utf8"))], file).toEqual([])
    }
  })

  it("the scan sees a write to a foreign table (it can fail)", () => {
    expect(
      [...writtenTables("UPDATE turn_records SET x = 1; insert into sessions values (1)")].sort()
    ).toEqual(["sessions", "turn_records"])
  })
})
