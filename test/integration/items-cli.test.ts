/**
 * `turnvault items` against PostgreSQL: a value derived from another names it (candidate
 * `derived_from`), the lineage lookups follow it, and a delete is a tombstone that is refused while
 * something derives from the item, unless `--cascade`.
 */
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { profileFieldId } from "../../src/domain/customerData"
import { runCli } from "../support/cli"
import { def, turn } from "../support/events"
import { freshDatabase, queryRows, type TestDatabase } from "../support/postgres"

let db: TestDatabase
const env = () => ({ DATABASE_URL: db.url })
const lines = (stdout: string) =>
  stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, any>)

const id = (name: string, turnId: string) => profileFieldId("t1", "c1", name, turnId)
const raw = id("raw_address", "t1-s1-1")
const address = id("address", "t1-s1-2")
const region = id("region", "t1-s1-3")

beforeAll(async () => {
  db = await freshDatabase()
  const dir = await mkdtemp(join(tmpdir(), "turnvault-items-"))
  const defs = ["raw_address", "address", "region"].map((name) => def(name, "string", "BUSINESS"))
  const candidate = (value: string, derived_from?: ReadonlyArray<string>) => ({
    value,
    ...(derived_from === undefined ? {} : { derived_from })
  })
  const events = [
    turn({ turn: 1, extra: { candidate_variables: { raw_address: candidate("1 main st, springfield") } } }),
    turn({
      turn: 2,
      extra: { candidate_variables: { address: candidate("1 Main St, Springfield", [raw]) } }
    }),
    turn({ turn: 3, extra: { candidate_variables: { region: candidate("Springfield", [address]) } } })
  ]
  await writeFile(join(dir, "defs.json"), JSON.stringify(defs))
  await writeFile(join(dir, "events.jsonl"), `${events.map((e) => JSON.stringify(e)).join("\n")}\n`)
  const processed = await runCli(
    [
      "process",
      "--definitions",
      join(dir, "defs.json"),
      "--input",
      join(dir, "events.jsonl"),
      "--export",
      join(dir, "out")
    ],
    env()
  )
  expect(processed.code, processed.stderr).toBe(0)
})
afterAll(async () => {
  await db?.drop()
})

describe("turnvault items", () => {
  it("follows derived_from both ways and keeps values out unless asked", async () => {
    const chain = await runCli(["items", "chain", "--tenant", "t1", "--item", region], env())
    expect(chain.code, chain.stderr).toBe(0)
    expect(lines(chain.stdout).map((r) => [r.name, r.source_metadata.derived_from ?? null])).toEqual([
      ["region", [address]],
      ["address", [raw]],
      ["raw_address", null]
    ])
    expect(lines(chain.stdout).every((r) => !("value" in r))).toBe(true)
    const derived = await runCli(["items", "derived", "--tenant", "t1", "--item", raw, "--values"], env())
    expect(lines(derived.stdout).map((r) => [r.id, r.value])).toEqual([[address, "1 Main St, Springfield"]])
    const history = await runCli(
      ["items", "history", "--tenant", "t1", "--customer", "c1", "--field", "address"],
      env()
    )
    expect(lines(history.stdout).map((r) => [r.id, r.status, r.definition_version])).toEqual([
      [address, "active", 1]
    ])
  })

  it("delete is refused while items derive from it, then tombstones the item and its dependents", async () => {
    const refused = await runCli(
      ["items", "delete", "--tenant", "t1", "--item", raw, "--by", "ops@acme", "--reason", "wrong address"],
      env()
    )
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain(`item ${raw} is not deleted: 2 items derive from it`)
    expect(refused.stderr).toContain("--cascade")

    const deleted = await runCli(
      [
        "items",
        "delete",
        "--tenant",
        "t1",
        "--item",
        raw,
        "--by",
        "ops@acme",
        "--reason",
        "wrong address",
        "--cascade"
      ],
      env()
    )
    expect(deleted.code, deleted.stderr).toBe(0)
    expect(lines(deleted.stdout).map((t) => [t.item_id, t.cascade_of, t.deleted_by, t.reason])).toEqual([
      [raw, null, "ops@acme", "wrong address"],
      ...[address, region].sort().map((item) => [item, raw, "ops@acme", "wrong address"])
    ])
    // nothing was removed: the rows are tombstones, and the tombstones are append-only
    const rows = await queryRows<{ id: string; status: string }>(
      db.url,
      "SELECT id, status FROM profile_fields"
    )
    expect(rows.map((r) => r.status)).toEqual(["deleted", "deleted", "deleted"])
    await expect(queryRows(db.url, "DELETE FROM profile_tombstones")).rejects.toThrow(/append-only/)
    const listed = await runCli(["items", "tombstones", "--tenant", "t1"], env())
    expect(lines(listed.stdout)).toHaveLength(3)
    const missing = await runCli(
      ["items", "delete", "--tenant", "t1", "--item", "nope", "--by", "x", "--reason", "y"],
      env()
    )
    expect(missing.stderr).toContain("item nope of tenant t1 does not exist")
  })
})
