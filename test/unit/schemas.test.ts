/**
 * `schemas/` is the wire contract for producers in other languages: the committed JSON Schema files must
 * match the Effect definitions, and a JSON Schema validator must accept and reject exactly what the
 * Effect decoder accepts and rejects, on every example.
 */
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import Ajv, { type ValidateFunction } from "ajv"
import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { type Contract, contracts, generateSchemas, schemaFileName } from "../../schemas/generate"
import { TurnEvent } from "../../schemas/TurnEvent"

const schemasDir = fileURLToPath(new URL("../../schemas/", import.meta.url))
const readJson = (path: string): unknown => JSON.parse(readFileSync(`${schemasDir}${path}`, "utf8"))
const jsonFiles = (dir: string): Array<string> =>
  readdirSync(`${schemasDir}${dir}`)
    .filter((file) => file.endsWith(".json"))
    .sort()

// One validator instance for all files, as a producer loading the whole folder would do.
const ajv = new Ajv({ strict: true, allErrors: true })
const validators = new Map<string, ValidateFunction>(
  contracts.map((contract) => [
    contract.name,
    ajv.compile(readJson(`json/${schemaFileName(contract)}`) as object)
  ])
)

/** `turn-event.full.json` targets the `turn-event` contract: the name up to the first dot. */
const contractOf = (file: string): Contract => {
  const contract = contracts.find((c) => file.split(".")[0] === c.name)
  if (contract === undefined) throw new Error(`${file}: no contract named ${file.split(".")[0]}`)
  return contract
}

interface Verdicts {
  readonly jsonSchema: boolean
  readonly effect: boolean
  readonly jsonSchemaErrors: string
}

const judge = (contract: Contract, data: unknown): Verdicts => {
  const validate = validators.get(contract.name)!
  const jsonSchema = validate(data)
  return {
    jsonSchema,
    effect: Either.isRight(Schema.decodeUnknownEither(contract.schema)(data)),
    jsonSchemaErrors: ajv.errorsText(validate.errors)
  }
}

describe("generated JSON Schema files", () => {
  const generated = generateSchemas()

  it("are exactly the committed files in schemas/json", () => {
    expect(jsonFiles("json"), "run `npm run schemas:generate`").toEqual(Object.keys(generated).sort())
  })

  for (const [file, text] of Object.entries(generated)) {
    it(`${file} matches the Effect definitions`, () => {
      const committed = readFileSync(`${schemasDir}json/${file}`, "utf8")
      expect(committed, `schemas/json/${file} is out of date: run \`npm run schemas:generate\``).toBe(text)
    })
  }
})

describe("valid examples", () => {
  for (const file of jsonFiles("examples/valid")) {
    it(`${file} is accepted by the JSON Schema and by the Effect schema`, () => {
      const verdicts = judge(contractOf(file), readJson(`examples/valid/${file}`))
      expect(verdicts.jsonSchema, verdicts.jsonSchemaErrors).toBe(true)
      expect(verdicts.effect).toBe(true)
    })
  }
})

describe("invalid examples", () => {
  for (const file of jsonFiles("examples/invalid")) {
    it(`${file} is rejected by the JSON Schema and by the Effect schema`, () => {
      const verdicts = judge(contractOf(file), readJson(`examples/invalid/${file}`))
      expect(verdicts).toMatchObject({ jsonSchema: false, effect: false })
    })
  }

  it("cover every rule of the turn-event contract", () => {
    const rules = [
      "missing-tenant",
      "empty-session-id",
      "turn-number-zero",
      "turn-number-fractional",
      "occurred-at-without-zone",
      "confidence-above-one",
      "unknown-source",
      "case-closed-without-case-id",
      "schema-version-2",
      "unknown-event-type",
      "reason-closed"
    ]
    expect(jsonFiles("examples/invalid")).toEqual(
      expect.arrayContaining(rules.map((rule) => `turn-event.${rule}.json`))
    )
  })
})

describe("forward compatibility of turn events", () => {
  const turnEvent = contractOf("turn-event.")
  // Carries unknown fields at the top level and inside every nested object.
  const extended = readJson("examples/valid/turn-event.unknown-field.json")

  it("accepts unknown fields at the top level and inside nested objects", () => {
    expect(judge(turnEvent, extended)).toMatchObject({ jsonSchema: true, effect: true })
  })

  it("accepts unknown fields on session.ended and case.closed", () => {
    for (const file of ["turn-event.session-ended.json", "turn-event.case-closed.json"]) {
      const event = { ...(readJson(`examples/valid/${file}`) as object), closed_by: "agent-7" }
      expect(judge(turnEvent, event), file).toMatchObject({ jsonSchema: true, effect: true })
    }
  })

  it("drops unknown fields when decoding", () => {
    const decoded = Schema.decodeUnknownSync(TurnEvent)(extended)
    expect(decoded).not.toHaveProperty("x_trace")
    expect(decoded).not.toHaveProperty("enforcement.policy_set")
    expect(decoded).not.toHaveProperty("scenario.priority")
  })
})

describe("occurred_at", () => {
  const turnEvent = contractOf("turn-event.")
  const minimal = readJson("examples/valid/turn-event.minimal.json") as object
  const cases: ReadonlyArray<readonly [string, boolean]> = [
    ["2024-05-01T10:15Z", true],
    ["2024-05-01T10:15:00Z", true],
    ["2024-05-01T10:15:00.123456+02:00", true],
    ["2024-05-01T10:15:00-0530", true],
    ["2024-05-01T10:15:00", false],
    ["2024-05-01 10:15:00Z", false],
    ["2024-05-01T10:15:00z", false],
    ["2024-00-01T10:15:00Z", false],
    ["2024-05-32T10:15:00Z", false],
    ["2024-05-01T24:00:00Z", false],
    ["2024-05-01T10:60:00Z", false],
    ["2024-05-01T10:15:60Z", false],
    ["2024-05-01T10:15:00+24:00", false],
    ["2024-05-01T10:15:00.Z", false]
  ]
  for (const [occurredAt, valid] of cases) {
    it(`${occurredAt} is ${valid ? "accepted" : "rejected"} by both`, () => {
      const verdicts = judge(turnEvent, { ...minimal, occurred_at: occurredAt })
      expect(verdicts).toMatchObject({ jsonSchema: valid, effect: valid })
    })
  }
})
