/** Transient or permanent: which store failures pause the partition and which isolate a session. */
import { describe, expect, it } from "vitest"
import { PersistenceError } from "../../src/batch/Persistence"
import { permanentRefusal } from "../../src/batch/storeRefusal"
import { AuditStoreError } from "../../src/ports/AuditStore"
import { ProfileStoreError } from "../../src/ports/ProfileStore"

const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code })
const failed = (...causes: Array<unknown>) =>
  new PersistenceError({
    failures: causes.map((cause, i) => ({
      operation: i === 0 ? "customer_data" : "turn_record",
      cause:
        i === 0
          ? new ProfileStoreError({ operation: "applyOps", cause })
          : new AuditStoreError({ operation: "append", cause })
    }))
  })

describe("store refusals", () => {
  it.each([
    ["22023", "invalid parameter value"],
    ["22021", "invalid byte sequence"],
    ["23505", "unique violation"],
    ["54000", "index row too large"],
    ["P0001", "raised by a trigger"]
  ])("SQLSTATE %s (%s) is permanent", (code) => {
    expect(permanentRefusal(failed(pgError(code)))).toBe(code)
  })

  it.each([
    ["40001", "serialization failure"],
    ["40P01", "deadlock"],
    ["57P01", "admin shutdown"],
    ["08006", "connection failure"],
    ["53300", "too many connections"],
    ["25P02", "transaction aborted"]
  ])("SQLSTATE %s (%s) is transient", (code) => {
    expect(permanentRefusal(failed(pgError(code)))).toBeNull()
  })

  it("a network error without an SQLSTATE is transient", () => {
    expect(permanentRefusal(failed(Object.assign(new Error("connect"), { code: "ECONNREFUSED" })))).toBeNull()
    expect(permanentRefusal(failed("timeout"))).toBeNull()
  })

  it("the refusal decides, not the aborted transaction its concurrent statements then report", () => {
    expect(permanentRefusal(failed(pgError("25P02"), pgError("22023")))).toBe("22023")
  })
})
