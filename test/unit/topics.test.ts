/** The topic catalogue document is generated from the catalogue; it must not drift. */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { renderCatalogue } from "../../streams/catalogueMarkdown"
import { topicCatalogue, topicNames } from "../../streams/topics"

describe("topic catalogue", () => {
  it("docs/TOPICS.md is up to date (run `npm run topics:doc`)", () => {
    expect(readFileSync(new URL("../../docs/TOPICS.md", import.meta.url), "utf8")).toBe(renderCatalogue())
  })

  it("lists every topic turnvault reads or writes, keyed by session id but the repartition, erasure and checkpoint topics, with the prefix applied", () => {
    const catalogue = topicCatalogue("acme.", 12)
    const names = topicNames("acme.")
    expect(catalogue.map((t) => t.name).sort()).toEqual(Object.values(names).sort())
    const byCustomer = [names.byCustomer, names.erasures]
    const perSession = catalogue.filter(
      (t) => !byCustomer.includes(t.name) && t.name !== names.auditCheckpoints
    )
    expect(perSession.every((t) => t.partitions === 12)).toBe(true)
    expect(perSession.every((t) => t.key.startsWith("session_id"))).toBe(true)
    for (const name of byCustomer) {
      expect(catalogue.find((t) => t.name === name)).toMatchObject({ partitions: 12 })
      expect(catalogue.find((t) => t.name === name)?.key).toMatch(/^\["tenant_id","customer_id"\]/)
    }
  })

  it("keeps the audit checkpoints in one partition, compacted by seq, for ever: the witness", () => {
    const names = topicNames("acme.")
    expect(topicCatalogue("acme.", 12).find((t) => t.name === names.auditCheckpoints)).toMatchObject({
      partitions: 1,
      cleanupPolicy: "compact",
      retentionMs: -1,
      key: expect.stringMatching(/^seq/)
    })
  })
})
