/**
 * How an `extraction.completed` event (issue 15) changes a customer's profile: the turn's own
 * customer-data rules (validation, coercion, last-writer-wins at the turn's occurred_at, history),
 * with three differences that keep an inference from overruling what is known better:
 * - its rows are `source_item_type: inference`, their `source_item_id` is `<turn_id>:inference`,
 *   and `source_metadata` names the template and model, and the turn in `derived_from`;
 * - a field the turn itself set or confirmed is left alone: what the customer stated explicitly
 *   in that turn wins over what a model read into the same turn;
 * - a value flagged `needs_human_review` is stored as `pending_review` and never becomes current,
 *   unless the deployment chose to activate such values (TURNVAULT_EXTRACTION_REVIEW=activate);
 * - it applies to the customer profile only: a field kept in the session is refused.
 */
import type { CandidateVariable, CustomerDataUpdate, ExtractionCompleted } from "../../schemas"
import {
  type CustomerDataOptions,
  type CustomerDataResult,
  keepsInSession,
  updateCustomerData
} from "./customerData"
import { type DataEntry, type Definitions, type FieldWrite, isConfirmation } from "./model"

/** The source item of the values inferred from `turnId`: distinct from the turn's own rows. */
export const inferenceItemId = (turnId: string) => `${turnId}:inference`

export interface InferenceOptions extends CustomerDataOptions {
  /** Make `needs_human_review` values current all the same (default: hold them for review). */
  readonly activateUnreviewed: boolean
}

const noVariables: Readonly<Record<string, DataEntry>> = Object.freeze(Object.create(null))

export const applyInference = (
  event: ExtractionCompleted,
  occurredAt: string,
  definitions: Definitions,
  profile: ReadonlyMap<string, DataEntry>,
  expired: ReadonlyMap<string, DataEntry>,
  options: InferenceOptions
): CustomerDataResult => {
  const candidates: Record<string, CandidateVariable> = Object.create(null)
  const early: Array<CustomerDataUpdate> = []
  const held = new Set<string>()
  for (const name of Object.keys(event.candidate_variables)) {
    const inferred = event.candidate_variables[name]!
    const def = definitions.get(name)
    if (def !== undefined && keepsInSession(def, options)) {
      early.push({
        field_name: name,
        status: "rejected",
        scope: def.scope,
        validation_error: "an inferred value applies to the customer profile only"
      })
      continue
    }
    const current = profile.get(name)
    if (
      def !== undefined &&
      (current?.source_item_id === event.turn_id || current?.confirmed_by === event.turn_id)
    ) {
      early.push({ field_name: name, status: "unchanged", scope: def.scope, is_update: true })
      continue
    }
    if (inferred.needs_human_review && !options.activateUnreviewed) held.add(name)
    candidates[name] = {
      value: inferred.value,
      confidence: inferred.confidence,
      source: "INFERENCE",
      derived_from: inferred.derived_from
    }
  }
  const result = updateCustomerData(
    {
      tenant_id: event.tenant_id,
      customer_id: event.customer_id,
      session_id: event.session_id,
      agent_id: event.agent_id,
      turn_id: inferenceItemId(event.turn_id),
      occurred_at: occurredAt,
      case_id: event.case_id
    },
    candidates,
    definitions,
    profile,
    noVariables,
    expired,
    options
  )
  const profileWrites: Array<FieldWrite> = []
  for (const write of result.profileWrites) {
    if (isConfirmation(write)) {
      // a value held for review confirms nothing
      if (!held.has(write.name)) profileWrites.push(write)
      continue
    }
    profileWrites.push({
      ...write,
      status: held.has(write.name) ? "pending_review" : write.status,
      source_item_type: "inference",
      source_metadata: {
        ...write.source_metadata,
        turn_id: event.turn_id,
        template: event.template,
        model: event.model
      }
    })
  }
  const profileChanges = new Map([...result.profileChanges].filter(([name]) => !held.has(name)))
  return { ...result, updates: [...early, ...result.updates], profileWrites, profileChanges }
}
