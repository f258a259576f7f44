-- Up Migration
-- Deleting a profile item is a tombstone (issue 13): the row stays, with status `deleted`, and
-- `profile_tombstones` records who deleted it, when and why, and which deletion cascaded to it.
-- Nothing audit-relevant is removed; the table is append-only like the audit trail.
ALTER TABLE profile_fields DROP CONSTRAINT profile_fields_status_check;
ALTER TABLE profile_fields ADD CONSTRAINT profile_fields_status_check
  CHECK (status IN ('active', 'superseded', 'expired', 'orphaned', 'deleted'));

CREATE TABLE profile_tombstones (
  tenant_id text NOT NULL,
  item_id text NOT NULL,
  deleted_at timestamptz NOT NULL,
  deleted_by text NOT NULL,
  reason text NOT NULL,
  cascade_of text,
  PRIMARY KEY (tenant_id, item_id)
);

CREATE TRIGGER profile_tombstones_append_only BEFORE UPDATE OR DELETE ON profile_tombstones
  FOR EACH ROW EXECUTE FUNCTION turnvault_reject_change();
CREATE TRIGGER profile_tombstones_no_truncate BEFORE TRUNCATE ON profile_tombstones
  FOR EACH STATEMENT EXECUTE FUNCTION turnvault_reject_change();

GRANT SELECT, INSERT ON profile_tombstones TO turnvault_processor;
GRANT SELECT ON profile_tombstones TO turnvault_tenant;

ALTER TABLE profile_tombstones ENABLE ROW LEVEL SECURITY;
ALTER TABLE profile_tombstones FORCE ROW LEVEL SECURITY;
CREATE POLICY profile_tombstones_processor ON profile_tombstones TO turnvault_processor
  USING (true) WITH CHECK (true);
CREATE POLICY profile_tombstones_tenant ON profile_tombstones TO turnvault_tenant
  USING (tenant_id = current_setting('turnvault.tenant_id', true));

-- Down Migration
DROP TABLE profile_tombstones;
-- the rows a tombstone marked go back to history (the tombstones themselves are gone with the table)
UPDATE profile_fields SET status = 'superseded' WHERE status = 'deleted';
ALTER TABLE profile_fields DROP CONSTRAINT profile_fields_status_check;
ALTER TABLE profile_fields ADD CONSTRAINT profile_fields_status_check
  CHECK (status IN ('active', 'superseded', 'expired', 'orphaned'));
