-- Up Migration
-- Values the ingest worker infers from a turn (issue 15) are profile rows of their own kind:
-- `source_item_type = 'inference'`, and those whose confidence needs a person's review are stored
-- with status `pending_review`, which never counts as current.
ALTER TABLE profile_fields DROP CONSTRAINT profile_fields_status_check;
ALTER TABLE profile_fields ADD CONSTRAINT profile_fields_status_check
  CHECK (status IN ('active', 'superseded', 'expired', 'orphaned', 'deleted', 'pending_review'));
ALTER TABLE profile_fields DROP CONSTRAINT profile_fields_source_item_type_check;
ALTER TABLE profile_fields ADD CONSTRAINT profile_fields_source_item_type_check
  CHECK (source_item_type IN ('turn', 'tool', 'import', 'field', 'asset', 'inference'));

-- The ingest worker's results, one per turn: the de-duplication of its at-least-once input and
-- the record of which template and model produced what (append-only, like the audit trail).
CREATE TABLE ingestion_results (
  tenant_id text NOT NULL,
  turn_id text NOT NULL,
  session_id text NOT NULL,
  customer_id text NOT NULL,
  completed_at timestamptz NOT NULL,
  template text NOT NULL,
  model text NOT NULL,
  extracted integer NOT NULL,
  needs_review integer NOT NULL,
  dropped jsonb NOT NULL,
  PRIMARY KEY (tenant_id, turn_id)
);

-- One rolling summary per session: replaced as turns arrive, with the turns it covers. Tenants
-- read both tables through the tenant path (migration 0013: the bound tenant, never a setting).
CREATE TABLE session_summaries (
  tenant_id text NOT NULL,
  session_id text NOT NULL,
  customer_id text NOT NULL,
  summary text NOT NULL,
  covers_turn_ids jsonb NOT NULL,
  through_turn_number integer NOT NULL,
  template text NOT NULL,
  model text NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, session_id)
);

CREATE TRIGGER ingestion_results_append_only BEFORE UPDATE OR DELETE ON ingestion_results
  FOR EACH ROW EXECUTE FUNCTION turnvault_reject_change();

GRANT SELECT, INSERT ON ingestion_results TO turnvault_processor;
GRANT SELECT, INSERT, UPDATE ON session_summaries TO turnvault_processor;
GRANT SELECT ON ingestion_results, session_summaries TO turnvault_tenant;

ALTER TABLE ingestion_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE ingestion_results FORCE ROW LEVEL SECURITY;
CREATE POLICY ingestion_results_processor ON ingestion_results TO turnvault_processor
  USING (true) WITH CHECK (true);
CREATE POLICY ingestion_results_tenant ON ingestion_results TO turnvault_tenant
  USING (tenant_id = (SELECT turnvault_bound_tenant()));
ALTER TABLE session_summaries ENABLE ROW LEVEL SECURITY;
ALTER TABLE session_summaries FORCE ROW LEVEL SECURITY;
CREATE POLICY session_summaries_processor ON session_summaries TO turnvault_processor
  USING (true) WITH CHECK (true);
CREATE POLICY session_summaries_tenant ON session_summaries TO turnvault_tenant
  USING (tenant_id = (SELECT turnvault_bound_tenant()));

-- Down Migration
DROP TABLE session_summaries;
DROP TABLE ingestion_results;
UPDATE profile_fields SET status = 'superseded' WHERE status = 'pending_review';
ALTER TABLE profile_fields DROP CONSTRAINT profile_fields_source_item_type_check;
ALTER TABLE profile_fields ADD CONSTRAINT profile_fields_source_item_type_check
  CHECK (source_item_type IN ('turn', 'tool', 'import', 'field', 'asset'));
ALTER TABLE profile_fields DROP CONSTRAINT profile_fields_status_check;
ALTER TABLE profile_fields ADD CONSTRAINT profile_fields_status_check
  CHECK (status IN ('active', 'superseded', 'expired', 'orphaned', 'deleted'));
