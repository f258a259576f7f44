-- Up Migration
-- Signed audit checkpoints (issue 16, decision 0018): each row is one checkpoint, numbered from 1,
-- its signed body (Merkle root over the heads of the chains written since the one before, the
-- previous checkpoint's hash, the key's id), the Ed25519 signature, and the heads the root is
-- built from. Append-only like the chains it covers; the `turnvault.audit-checkpoints` topic holds
-- the same bodies and signatures outside the database, so deleting rows here shows too.
-- No tenant data beyond the heads' ids: the processor role only, as for job_runs.
CREATE TABLE audit_checkpoints (
  seq bigint PRIMARY KEY,
  body jsonb NOT NULL,
  signature text NOT NULL,
  heads jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION turnvault_reject_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION turnvault_reject_change();

GRANT SELECT, INSERT ON audit_checkpoints TO turnvault_processor;
ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_checkpoints_processor ON audit_checkpoints TO turnvault_processor
  USING (true) WITH CHECK (true);

-- A checkpoint reads the sessions written since the previous one. recorded_at grows with the
-- insertion order, so a BRIN index finds them at a few pages' cost per insert (no B-tree on the
-- append-only hot tables).
CREATE INDEX turn_records_recorded_brin ON turn_records USING brin (recorded_at);
CREATE INDEX session_history_recorded_brin ON session_history USING brin (recorded_at);

-- Down Migration
DROP INDEX session_history_recorded_brin;
DROP INDEX turn_records_recorded_brin;
DROP TABLE audit_checkpoints;
