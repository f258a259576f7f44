/**
 * Renders the wire contracts in this folder as JSON Schema files under `schemas/json/`, for producers
 * and consumers written in other languages. Run with `npm run schemas:generate`; a unit test fails when
 * the committed files drift from the definitions.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { JSONSchema, type Schema } from "effect"
import { AuditCheckpoint, ErasureEvent, TurnProof } from "./Audit"
import { FieldDefinition, FieldDefinitions } from "./FieldDefinition"
import { IngestionDeadLetter, MemoryIngestionTask, TelemetryEntry, TurnRecord } from "./Outputs"
import { RequirementProposals, Scenario } from "./Scenario"
import { ScenarioFieldRequirement, ScenarioFieldRequirements } from "./ScenarioRequirement"
import { TurnEvent } from "./TurnEvent"

/** One generated file: which schema it renders and how unknown properties are treated. */
export interface Contract {
  /** Prefix of the file names in `schemas/json` and `schemas/examples`. */
  readonly name: string
  readonly schema: Schema.Schema.AnyNoContext
  /**
   * Turn events must accept properties they do not know (DESIGN 8: unknown fields are ignored), so a
   * producer on a newer contract version is not rejected by an older validator.
   */
  readonly allowUnknownProperties: boolean
}

export const contracts: ReadonlyArray<Contract> = [
  { name: "turn-event", schema: TurnEvent, allowUnknownProperties: true },
  { name: "field-definitions", schema: FieldDefinitions, allowUnknownProperties: false },
  { name: "field-definition", schema: FieldDefinition, allowUnknownProperties: false },
  { name: "scenario-requirements", schema: ScenarioFieldRequirements, allowUnknownProperties: false },
  { name: "scenario-requirement", schema: ScenarioFieldRequirement, allowUnknownProperties: false },
  { name: "scenario", schema: Scenario, allowUnknownProperties: false },
  { name: "requirement-proposals", schema: RequirementProposals, allowUnknownProperties: false },
  { name: "turn-record", schema: TurnRecord, allowUnknownProperties: false },
  { name: "memory-ingestion-task", schema: MemoryIngestionTask, allowUnknownProperties: false },
  { name: "ingestion-dead-letter", schema: IngestionDeadLetter, allowUnknownProperties: false },
  { name: "telemetry-entry", schema: TelemetryEntry, allowUnknownProperties: false },
  { name: "audit-checkpoint", schema: AuditCheckpoint, allowUnknownProperties: false },
  { name: "turn-proof", schema: TurnProof, allowUnknownProperties: false },
  { name: "erasure-event", schema: ErasureEvent, allowUnknownProperties: false }
]

export const schemaFileName = (contract: Contract): string => `${contract.name}.schema.json`

/**
 * Effect marks `Schema.Unknown` with `$id: "/schemas/unknown"`. A nested `$id` changes the base URI
 * and makes validators refuse to load two of our files side by side, so it is dropped; with
 * `allowUnknown`, objects that Effect closes with `additionalProperties: false` are opened.
 */
const postProcess = (node: unknown, allowUnknown: boolean): unknown => {
  if (Array.isArray(node)) return node.map((item) => postProcess(item, allowUnknown))
  if (typeof node !== "object" || node === null) return node
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(node)) {
    if (key === "$id" && typeof value === "string" && value.startsWith("/schemas/")) continue
    out[key] = postProcess(value, allowUnknown)
  }
  if (allowUnknown && out.type === "object" && out.additionalProperties === false) {
    out.additionalProperties = true
  }
  return out
}

const render = (contract: Contract): string =>
  `${JSON.stringify(postProcess(JSONSchema.make(contract.schema), contract.allowUnknownProperties), null, 2)}\n`

/** File name (relative to `schemas/json`) → pretty JSON text with a trailing newline. */
export const generateSchemas = (): Record<string, string> =>
  Object.fromEntries(contracts.map((contract) => [schemaFileName(contract), render(contract)]))

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]

if (isMain) {
  const outDir = fileURLToPath(new URL("./json/", import.meta.url))
  mkdirSync(outDir, { recursive: true })
  for (const [file, text] of Object.entries(generateSchemas())) {
    writeFileSync(`${outDir}${file}`, text)
    console.log(`wrote schemas/json/${file}`)
  }
}
