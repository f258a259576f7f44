/**
 * `turnvault items chain | derived | history | delete | tombstones`: the customer context vault's
 * lineage from the command line (DESIGN 3.6). Rows are printed without their values unless
 * `--values` is given (values may be personal data). `delete` writes a tombstone with who and why;
 * it is refused while other items derive from the item, unless `--cascade`.
 */
import { Effect } from "effect"
import type { ProfileField } from "../../domain/model"
import { ItemChanges } from "../../ports/ItemChanges"
import { deletedAsChanged, ProfileStore } from "../../ports/ProfileStore"
import { CliInputError } from "./process"

/** A row as printed: everything but its value, unless asked for. */
export const shownRow = (row: ProfileField, values: boolean) => {
  const { value, ...rest } = row
  return values ? { ...rest, value } : rest
}

export const itemChain = (tenantId: string, id: string) =>
  Effect.flatMap(ProfileStore, (store) => store.derivationChain(tenantId, id))

export const derivedItems = (tenantId: string, id: string) =>
  Effect.flatMap(ProfileStore, (store) => store.derivedItems(tenantId, id))

export const fieldHistory = (tenantId: string, customerId: string, name: string) =>
  Effect.flatMap(ProfileStore, (store) => store.fieldHistory(tenantId, customerId, name))

export const tombstones = (tenantId: string) =>
  Effect.flatMap(ProfileStore, (store) => store.tombstones(tenantId))

/** Deletes an item as a tombstone; a refusal becomes a CLI error that names the dependents. */
export const deleteItem = (
  tenantId: string,
  id: string,
  request: { readonly by: string; readonly reason: string; readonly cascade: boolean }
) =>
  Effect.flatMap(ProfileStore, (store) =>
    store.deleteItem(tenantId, id, { ...request, at: new Date() })
  ).pipe(
    Effect.tap((deleted) =>
      Effect.flatMap(ItemChanges, (changes) => changes.publish(deleted.map(deletedAsChanged)))
    ),
    Effect.catchTag("ProfileItemRefused", (refused) =>
      Effect.fail(
        new CliInputError({
          message:
            refused.reason === "not_found"
              ? `item ${id} of tenant ${tenantId} does not exist`
              : `item ${id} is not deleted: ${refused.dependents?.length ?? "some"} items derive from it (${(refused.dependents ?? []).join(", ")}); pass --cascade to delete them too`
        })
      )
    )
  )
