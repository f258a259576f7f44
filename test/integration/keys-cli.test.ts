/**
 * `turnvault keys` against PostgreSQL: a key is printed once and stored only as a hash, listed
 * without secrets, revoked once, and every create and revoke is in the append-only admin log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parseKey } from "../../src/domain/apiKey"
import { runCli } from "../support/cli"
import { freshDatabase, queryRows, type TestDatabase } from "../support/postgres"

let db: TestDatabase
const env = () => ({ DATABASE_URL: db.url })
const json = (stdout: string) =>
  JSON.parse(stdout.split("\n").filter((l) => l.startsWith("{") || l.startsWith("["))[0]!)

beforeAll(async () => {
  db = await freshDatabase()
})
afterAll(async () => {
  await db?.drop()
})

describe("turnvault keys", () => {
  it("creates, lists and revokes a tenant's keys, logging who did it", async () => {
    const created = await runCli(
      ["keys", "create", "--tenant", "acme", "--scope", "admin", "--by", "ops@acme"],
      env()
    )
    expect(created.code, created.stderr).toBe(0)
    const key = json(created.stdout)
    expect(key).toMatchObject({ tenant_id: "acme", scope: "admin", created_by: "ops@acme", revoked_at: null })
    const secret = parseKey(key.token)!.secret
    expect(parseKey(key.token)).toMatchObject({ tenant_id: "acme", key_id: key.key_id })

    // only a salted hash is stored: the secret appears nowhere in the table
    const stored = await queryRows<Record<string, string>>(db.url, "SELECT * FROM api_keys")
    expect(stored).toHaveLength(1)
    expect(JSON.stringify(stored)).not.toContain(secret)
    expect(stored[0]!.hash).toMatch(/^[0-9a-f]{64}$/)

    const listed = await runCli(["keys", "list", "--tenant", "acme"], env())
    expect(listed.code).toBe(0)
    expect(listed.stdout).not.toContain(secret)
    expect(json(listed.stdout).map((k: Record<string, string>) => k.key_id)).toEqual([key.key_id])
    expect((await runCli(["keys", "list", "--tenant", "other"], env())).stdout.trim()).toBe("[]")

    expect((await runCli(["keys", "create", "--tenant", "acme", "--scope", "root"], env())).code).not.toBe(0)
    const revoked = await runCli(
      ["keys", "revoke", "--tenant", "acme", "--key", key.key_id, "--by", "dpo@acme"],
      env()
    )
    expect(revoked.code, revoked.stderr).toBe(0)
    const again = await runCli(["keys", "revoke", "--tenant", "acme", "--key", key.key_id], env())
    expect(again.code).not.toBe(0)
    expect(again.stderr + again.stdout).toContain(`no live key ${key.key_id}`)

    const log = await queryRows<{ action: string; actor: string; target: string }>(
      db.url,
      "SELECT action, actor, target FROM admin_actions WHERE tenant_id = 'acme' ORDER BY seq"
    )
    expect(log).toEqual([
      { action: "key.create", actor: "ops@acme", target: key.key_id },
      { action: "key.revoke", actor: "dpo@acme", target: key.key_id }
    ])
    // the log is append-only
    await expect(queryRows(db.url, "DELETE FROM admin_actions")).rejects.toThrow(/append-only/)
  })
})
