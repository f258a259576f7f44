/**
 * The prompt templates in `prompts/` (Jinja-compatible, rendered with nunjucks): `<name>.v<N>.njk`,
 * the version in the file name, so the version used is known and recorded with every result.
 * Rendering is strict: a variable the template names but the context lacks is an error, not an
 * empty string in a prompt.
 */
import nunjucks from "nunjucks"
import { installPath } from "../../config/installRoot"
import { Scope, type Scenario, ValueType } from "../../../schemas"
import type { FieldView } from "../../domain/extraction"

const environment = new nunjucks.Environment(new nunjucks.FileSystemLoader(installPath("prompts")), {
  // prompts are plain text, not HTML
  autoescape: false,
  throwOnUndefined: true
})

/** A template and the version of it that was used. */
export interface Template {
  readonly name: string
  readonly version: number
}

export const ENTITY_EXTRACTION: Template = { name: "entity-extraction", version: 1 }
export const REQUIREMENTS_EXTRACTION: Template = { name: "requirements-extraction", version: 1 }
export const SESSION_SUMMARY: Template = { name: "session-summary", version: 1 }

/** `name@version`, as results record it. */
export const templateId = (template: Template) => `${template.name}@${template.version}`

export const render = (template: Template, context: Readonly<Record<string, unknown>>): string =>
  environment.render(`${template.name}.v${template.version}.njk`, context)

/** The system prompt of an extraction: the agent's fields (never their values) and what is missing. */
export const extractionPrompt = (
  fields: ReadonlyArray<FieldView>,
  missing: ReadonlyArray<Pick<FieldView, "name" | "collection_prompt">>
) => render(ENTITY_EXTRACTION, { fields, missing }).trim()

/** The system prompt of a requirements extraction: the scenario and the agent's fields (never values). */
export const requirementsPrompt = (scenario: Scenario, fields: ReadonlyArray<FieldView>) =>
  render(REQUIREMENTS_EXTRACTION, {
    scenario,
    fields,
    value_types: ValueType.literals,
    scopes: Scope.literals
  }).trim()

/** The system prompt of a session summary: the summary so far; the new exchange is the user message. */
export const summaryPrompt = (previous: string | null) => render(SESSION_SUMMARY, { previous }).trim()

/** One exchange of a conversation as the user message of a request. */
export const exchangeText = (userMessage: string, agentResponse: string) =>
  `Customer: ${userMessage}\nAgent: ${agentResponse}`
