/**
 * `turnvault requirements extract SCENARIO.json [--output FILE] [--apply]` (issue 15; background
 * 004's ProfileItemSchemaExtractor): asks which fields a scenario's conditions need, from a model
 * when one is configured (the requirements-extraction prompt template, the agent's fields without
 * any stored value) or else from the rules that need none (a field named in a condition). Every
 * proposal is judged (domain/requirementsExtraction.ts) and written, with its confidence and
 * `needs_human_review`, to a proposals file for a person to review. Nothing is imported unless
 * `--apply`, and even then only the proposals that need no review: a doubtful requirement must
 * not start blocking conversations unseen.
 */
import { writeFile } from "node:fs/promises"
import { Clock, Duration, Effect } from "effect"
import { type RequirementProposals, Scenario } from "../../../schemas"
import { REQUIREMENTS_EXTRACTION, requirementsPrompt, templateId } from "../../adapters/llm/prompts"
import { fieldView } from "../../domain/extraction"
import {
  extractRequirementsByRules,
  judgeAnswer,
  parseRequirementsAnswer
} from "../../domain/requirementsExtraction"
import { type ChatAnswer, type ChatRequest, LlmError, type LlmProviderService } from "../../ports/LlmProvider"
import { ProfileStore } from "../../ports/ProfileStore"
import { CliInputError, readJsonFile } from "./process"

/** Tries of one model request: a timeout, a rate limit or a server error is tried again. */
export const LLM_ATTEMPTS = 3

/**
 * Asks `provider`, trying a retryable failure again up to LLM_ATTEMPTS times in all: after the
 * provider's Retry-After when it gave one, else after 1 s, then 2 s.
 */
export const askWithRetries = (
  provider: LlmProviderService,
  request: ChatRequest,
  attempts = LLM_ATTEMPTS
): Effect.Effect<ChatAnswer, LlmError> =>
  Effect.gen(function* () {
    for (let attempt = 1; ; attempt++) {
      const result = yield* Effect.either(provider.complete(request))
      if (result._tag === "Right") return result.right
      const error = result.left
      if (!error.retryable || attempt >= attempts) return yield* error
      const waitMs = error.retryAfterMs ?? 1000 * 2 ** (attempt - 1)
      yield* Effect.logWarning("model request failed; trying again", {
        kind: error.kind,
        attempt,
        retry_in_ms: waitMs
      })
      yield* Effect.sleep(Duration.millis(waitMs))
    }
  })

const proposalsPathOf = (scenarioPath: string) => `${scenarioPath.replace(/\.json$/i, "")}.proposals.json`

export const extractRequirements = (options: {
  readonly scenarioPath: string
  readonly output: string | undefined
  readonly apply: boolean
  /** The model to ask; null: the rules. */
  readonly provider: LlmProviderService | null
}) =>
  Effect.gen(function* () {
    const scenario = yield* readJsonFile(options.scenarioPath, Scenario)
    const store = yield* ProfileStore
    const defs = yield* store.loadDefinitions(scenario.tenant_id, scenario.agent_id)
    const defined = new Set(defs.map((d) => d.name))

    let extractor = "rules"
    let answer = extractRequirementsByRules(scenario, [...defined])
    if (options.provider !== null) {
      const reply = yield* askWithRetries(options.provider, {
        system: requirementsPrompt(scenario, defs.map(fieldView)),
        user: "Propose the field requirements of this scenario, as the JSON object described.",
        json: true
      })
      const parsed = parseRequirementsAnswer(reply.content)
      if (parsed._tag === "Left")
        return yield* new LlmError({ kind: "malformed", message: `the model's answer: ${parsed.left}` })
      extractor = reply.model
      answer = parsed.right
    }

    const judged = judgeAnswer(answer, scenario, defined)
    const proposals: RequirementProposals = {
      tenant_id: scenario.tenant_id,
      agent_id: scenario.agent_id,
      scenario_id: scenario.scenario_id,
      generated_at: new Date(yield* Clock.currentTimeMillis).toISOString(),
      template: options.provider === null ? null : templateId(REQUIREMENTS_EXTRACTION),
      extractor,
      ...judged
    }
    const output = options.output ?? proposalsPathOf(options.scenarioPath)
    yield* Effect.tryPromise({
      try: () => writeFile(output, `${JSON.stringify(proposals, null, 2)}\n`),
      catch: (e) => new CliInputError({ message: `cannot write ${output}: ${String(e)}` })
    })

    const review = [...judged.requirements, ...judged.field_definitions].filter((p) => p.needs_human_review)
    let applied: { definitions: number; requirements: number; changed: number } | null = null
    if (options.apply) {
      // definitions first: a requirement may name a field proposed with it
      const definitions = judged.field_definitions
        .filter((p) => !p.needs_human_review)
        .map((p) => p.definition)
      const requirements = judged.requirements.filter((p) => !p.needs_human_review).map((p) => p.requirement)
      const changedDefinitions = definitions.length === 0 ? 0 : yield* store.upsertDefinitions(definitions)
      const changedRequirements =
        requirements.length === 0 ? 0 : yield* store.upsertRequirements(requirements)
      applied = {
        definitions: definitions.length,
        requirements: requirements.length,
        changed: changedDefinitions + changedRequirements
      }
    }
    return {
      proposals: output,
      extractor,
      requirements: judged.requirements.length,
      field_definitions: judged.field_definitions.length,
      needs_human_review: review.length,
      dropped: judged.dropped.length,
      applied
    }
  })
