/**
 * `turnvault requirements extract` through the real CLI, against PostgreSQL and a local fake
 * OpenAI-compatible server of this test's own: the request carries the scenario and the agent's
 * fields, a 429 is waited out, the proposals file holds every judged proposal, and `--apply`
 * imports only those that need no review. Without a model configured, the rules run instead, and
 * nothing is imported without `--apply`.
 */
import { readFile, mkdtemp, writeFile } from "node:fs/promises"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { RequirementProposals } from "../../schemas"
import { runCli } from "../support/cli"
import { def } from "../support/events"
import { freshDatabase, queryRows, type TestDatabase } from "../support/postgres"

let db: TestDatabase
let server: Server
let baseUrl: string
let dir: string
/** The fake's answers, one per request in turn (the last one repeats). */
let script: Array<{ status: number; body: unknown; headers?: Record<string, string> }> = []
const requests: Array<{ authorization: string | undefined; body: any }> = []

const completion = (content: unknown) => ({
  status: 200,
  body: {
    id: "chatcmpl-1",
    object: "chat.completion",
    model: "fake-model-2026-01",
    choices: [{ index: 0, message: { role: "assistant", content: JSON.stringify(content) } }],
    usage: { prompt_tokens: 300, completion_tokens: 80 }
  }
})

const scenario = {
  tenant_id: "t1",
  agent_id: "a1",
  scenario_id: "upgrade",
  name: "Upgrade a plan",
  conditions: ["the company name is known"],
  steps: [{ step_id: "eligibility", conditions: ["seats is above 10", "the contract has not ended"] }]
}

const answer = {
  requirements: [
    { step_id: "eligibility", field_name: "seats", confidence: 0.95, reason: "seats is above 10" },
    { step_id: null, field_name: "company_name", confidence: 0.7 },
    { step_id: "eligibility", field_name: "contract_end_date", confidence: 0.9 },
    { step_id: "eligibility", field_name: "loyalty_tier", confidence: 0.9 }
  ],
  new_fields: [
    {
      name: "contract_end_date",
      value_type: "date",
      scope: "BUSINESS",
      description: "when the contract ends",
      confidence: 0.9
    }
  ]
}

const llmEnv = () => ({
  DATABASE_URL: db.url,
  TURNVAULT_LLM_BASE_URL: baseUrl,
  TURNVAULT_LLM_MODEL: "fake-model",
  TURNVAULT_LLM_API_KEY: "sk-test-key",
  TURNVAULT_LLM_TIMEOUT_MS: "5000"
})

const requirementRows = () =>
  queryRows<{ step_id: string; field_name: string }>(
    db.url,
    "SELECT step_id, field_name FROM scenario_requirements WHERE scenario_id = 'upgrade' ORDER BY field_name"
  )

beforeAll(async () => {
  db = await freshDatabase()
  dir = await mkdtemp(join(tmpdir(), "turnvault-reqs-"))
  server = createServer((request, response) => {
    let text = ""
    request.on("data", (chunk) => {
      text += chunk
    })
    request.on("end", () => {
      requests.push({ authorization: request.headers.authorization, body: JSON.parse(text) })
      const reply = script.length > 1 ? script.shift()! : script[0]!
      response.writeHead(reply.status, { "content-type": "application/json", ...reply.headers })
      response.end(JSON.stringify(reply.body))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const defs = [def("company_name", "string", "BUSINESS"), def("seats", "integer", "BUSINESS")]
  await writeFile(join(dir, "defs.json"), JSON.stringify(defs))
  await writeFile(join(dir, "upgrade.json"), JSON.stringify(scenario))
  const imported = await runCli(["definitions", "import", join(dir, "defs.json")], { DATABASE_URL: db.url })
  expect(imported.code, imported.stderr).toBe(0)
}, 120_000)

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve))
  await db?.drop()
})

describe("turnvault requirements extract", () => {
  it("asks the model, waits out a 429, writes every judged proposal and applies those needing no review", async () => {
    script = [
      { status: 429, body: { error: { message: "slow down" } }, headers: { "retry-after": "0" } },
      completion(answer)
    ]
    const output = join(dir, "model.proposals.json")
    const run = await runCli(
      ["requirements", "extract", join(dir, "upgrade.json"), "--output", output, "--apply"],
      llmEnv()
    )
    expect(run.code, run.stderr).toBe(0)
    // the retried request and the first one were the same, and carried what the prompt needs
    expect(requests).toHaveLength(2)
    const sent = requests[1]!
    expect(sent.authorization).toBe("Bearer sk-test-key")
    expect(sent.body.model).toBe("fake-model")
    expect(sent.body.response_format).toEqual({ type: "json_object" })
    const system: string = sent.body.messages[0].content
    for (const text of [
      "seats is above 10",
      "the company name is known",
      "Step eligibility",
      "- seats (integer"
    ])
      expect(system).toContain(text)
    expect(run.stderr).not.toContain("sk-test-key")

    expect(JSON.parse(run.stdout)).toEqual({
      proposals: output,
      extractor: "fake-model-2026-01",
      requirements: 3,
      field_definitions: 1,
      needs_human_review: 1,
      dropped: 1,
      applied: { definitions: 1, requirements: 2, changed: 3 }
    })
    const proposals = Schema.decodeUnknownSync(RequirementProposals)(
      JSON.parse(await readFile(output, "utf8"))
    )
    expect(proposals.template).toBe("requirements-extraction@1")
    expect(proposals.requirements.map((p) => [p.requirement.field_name, p.needs_human_review])).toEqual([
      ["seats", false],
      ["company_name", true],
      ["contract_end_date", false]
    ])
    expect(proposals.dropped.map((d) => d.reason)).toEqual([
      "the agent defines no field loyalty_tier and none was proposed"
    ])
    // imported: the proposed field and the two sure requirements; company_name waits for review
    expect(await requirementRows()).toEqual([
      { step_id: "eligibility", field_name: "contract_end_date" },
      { step_id: "eligibility", field_name: "seats" }
    ])
    const fields = await queryRows<{ name: string }>(
      db.url,
      "SELECT name FROM field_definitions WHERE agent_id = 'a1' ORDER BY name"
    )
    expect(fields.map((f) => f.name)).toEqual(["company_name", "contract_end_date", "seats"])
  }, 60_000)

  it("fails on an answer that is not JSON, and writes nothing", async () => {
    script = [
      {
        status: 200,
        body: { ...completion(answer).body, choices: [{ message: { content: "Sure! Here:" } }] }
      }
    ]
    const output = join(dir, "broken.proposals.json")
    const run = await runCli(
      ["requirements", "extract", join(dir, "upgrade.json"), "--output", output],
      llmEnv()
    )
    expect(run.code).not.toBe(0)
    expect(run.stderr).toContain("the model's answer: the answer is not JSON")
    await expect(readFile(output, "utf8")).rejects.toThrow(/ENOENT/)
  }, 60_000)

  it("without a model, proposes what the conditions name and imports nothing unless --apply", async () => {
    const before = await requirementRows()
    const run = await runCli(["requirements", "extract", join(dir, "upgrade.json")], { DATABASE_URL: db.url })
    expect(run.code, run.stderr).toBe(0)
    const summary = JSON.parse(run.stdout)
    expect(summary).toMatchObject({ extractor: "rules", applied: null, dropped: 0 })
    const proposals = Schema.decodeUnknownSync(RequirementProposals)(
      JSON.parse(await readFile(join(dir, "upgrade.proposals.json"), "utf8"))
    )
    expect(proposals.template).toBeNull()
    expect(
      proposals.requirements.map((p) => [p.requirement.step_id ?? null, p.requirement.field_name])
    ).toEqual([
      [null, "company_name"],
      ["eligibility", "seats"]
    ])
    expect(await requirementRows()).toEqual(before)
  }, 60_000)
})
