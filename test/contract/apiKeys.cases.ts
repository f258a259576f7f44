/** ApiKeys contract: a key names one tenant, only its hash is kept, revocation holds, actions are logged. */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import { parseKey } from "../../src/domain/apiKey"
import { ApiKeys } from "../../src/ports/ApiKeys"
import type { StoreIt } from "./stores.contract"

const at = new Date("2024-05-01T10:00:00.000Z")

export const apiKeyCases = (it: StoreIt, tenant: (label: string) => string) => {
  it.effect("api keys: a key authenticates as its one tenant until it is revoked; each step is logged", () =>
    Effect.gen(function* () {
      const keys = yield* ApiKeys
      const a = tenant("keys-a")
      const b = tenant("keys-b")
      const reader = yield* keys.create(a, "read", "ops@example.com", at)
      const admin = yield* keys.create(a, "admin", "ops@example.com", at)
      const other = yield* keys.create(b, "read", "ops@example.com", at)
      expect(parseKey(reader.token)).toMatchObject({ tenant_id: a, key_id: reader.key_id })
      expect(yield* keys.authenticate(reader.token)).toEqual({
        tenant_id: a,
        key_id: reader.key_id,
        scope: "read"
      })
      expect(yield* keys.authenticate(admin.token)).toEqual({
        tenant_id: a,
        key_id: admin.key_id,
        scope: "admin"
      })
      expect((yield* keys.authenticate(other.token))?.tenant_id).toBe(b)

      // listed without secrets, oldest first
      const listed = yield* keys.list(a)
      expect(listed.map((k) => k.key_id).sort()).toEqual([reader.key_id, admin.key_id].sort())
      expect(JSON.stringify(listed)).not.toContain(parseKey(reader.token)!.secret)
      expect(listed.every((k) => !("token" in k) && !("hash" in k) && !("salt" in k))).toBe(true)

      // a wrong secret, another tenant's name on the key, garbage: nobody
      const secret = parseKey(reader.token)!.secret
      const forged = reader.token.replace(secret, secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A"))
      expect(yield* keys.authenticate(forged)).toBeNull()
      const retargeted = other.token.replace(
        Buffer.from(b).toString("base64url"),
        Buffer.from(a).toString("base64url")
      )
      expect(yield* keys.authenticate(retargeted)).toBeNull()
      for (const junk of ["", "tvk_", "Bearer x", `${reader.token}x`, reader.token.replace("tvk_", "tvx_")])
        expect(yield* keys.authenticate(junk), junk).toBeNull()

      // revocation: once, only by its tenant, and then the key is nobody
      expect(yield* keys.revoke(b, reader.key_id, "ops@example.com", at)).toBe(false)
      expect(yield* keys.revoke(a, reader.key_id, "dpo@example.com", at)).toBe(true)
      expect(yield* keys.revoke(a, reader.key_id, "dpo@example.com", at)).toBe(false)
      expect(yield* keys.authenticate(reader.token)).toBeNull()
      expect(yield* keys.authenticate(admin.token)).not.toBeNull()
      expect((yield* keys.list(a)).find((k) => k.key_id === reader.key_id)).toMatchObject({
        revoked_at: at.toISOString(),
        revoked_by: "dpo@example.com"
      })

      yield* keys.logAction({
        tenant_id: a,
        at: at.toISOString(),
        actor: admin.key_id,
        action: "item.delete",
        target: "item-1",
        details: { cascade: false }
      })
      expect((yield* keys.actions(a)).map((x) => [x.action, x.target, x.actor])).toEqual([
        ["key.create", reader.key_id, "ops@example.com"],
        ["key.create", admin.key_id, "ops@example.com"],
        ["key.revoke", reader.key_id, "dpo@example.com"],
        ["item.delete", "item-1", admin.key_id]
      ])
      expect((yield* keys.actions(b)).map((x) => x.action)).toEqual(["key.create"])
    })
  )
}
