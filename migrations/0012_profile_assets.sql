-- Up Migration
-- Profile assets (issue 13, background 004 `ProfileAsset`): files and other artefacts a turn
-- brought, per customer, with lineage and status like profile rows. Written only by
-- PgProfileStore, insert-only from the stream: the producer's asset_id is unique per tenant and
-- names one content (`sha256`), so an id stored before is skipped. Fields may derive from an asset
-- (`source_metadata.derived_from` naming its id), which keeps them from being marked orphaned.
CREATE TABLE profile_assets (
  tenant_id text NOT NULL,
  id text NOT NULL,
  customer_id text NOT NULL,
  kind text NOT NULL,
  uri text,
  inline_ref text,
  mime_type text NOT NULL,
  size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
  sha256 text NOT NULL,
  derived_from_tool text,
  status text NOT NULL CHECK (status IN ('active', 'superseded', 'expired', 'orphaned', 'deleted')),
  source_item_id text NOT NULL,
  source_item_type text NOT NULL CHECK (source_item_type IN ('turn', 'tool', 'import', 'field', 'asset')),
  source_metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- text: the exact ISO string of the event round-trips
  created_at text NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE INDEX profile_assets_customer_idx ON profile_assets (tenant_id, customer_id);

GRANT SELECT, INSERT, UPDATE ON profile_assets TO turnvault_processor;
GRANT SELECT ON profile_assets TO turnvault_tenant;

ALTER TABLE profile_assets ENABLE ROW LEVEL SECURITY;
ALTER TABLE profile_assets FORCE ROW LEVEL SECURITY;
CREATE POLICY profile_assets_processor ON profile_assets TO turnvault_processor
  USING (true) WITH CHECK (true);
CREATE POLICY profile_assets_tenant ON profile_assets TO turnvault_tenant
  USING (tenant_id = current_setting('turnvault.tenant_id', true));

-- Down Migration
DROP TABLE profile_assets;
