/** The asset rows of one turn (DESIGN 3.6): what the event said of each, with its lineage. Pure. */
import type { ProfileAssetInput } from "../../schemas"
import type { ProfileAsset } from "./model"
import type { TurnContext } from "./customerData"

export const assetRows = (turn: TurnContext, assets: ReadonlyArray<ProfileAssetInput>): Array<ProfileAsset> =>
  assets.map((asset) => ({
    tenant_id: turn.tenant_id,
    id: asset.asset_id,
    customer_id: turn.customer_id,
    kind: asset.kind,
    uri: asset.uri ?? null,
    inline_ref: asset.inline_ref ?? null,
    mime_type: asset.mime_type,
    size_bytes: asset.size_bytes,
    sha256: asset.sha256,
    derived_from_tool: asset.derived_from_tool ?? null,
    status: "active",
    source_item_id: turn.turn_id,
    source_item_type: asset.derived_from_tool === undefined ? "turn" : "tool",
    source_metadata: { session_id: turn.session_id, agent_id: turn.agent_id },
    created_at: turn.occurred_at
  }))
