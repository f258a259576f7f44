-- Up Migration
-- Tenants' API keys and the append-only log of admin actions (issue 14, DESIGN 3.7).
-- A key is looked up by (tenant, key id), both named by the key itself; only an scrypt hash of
-- its secret is stored. Neither table is readable by the tenant role.
CREATE TABLE api_keys (
  tenant_id text NOT NULL,
  key_id text NOT NULL,
  scope text NOT NULL CHECK (scope IN ('read', 'admin')),
  salt text NOT NULL,
  hash text NOT NULL,
  created_at timestamptz NOT NULL,
  created_by text NOT NULL,
  revoked_at timestamptz,
  revoked_by text,
  PRIMARY KEY (tenant_id, key_id)
);
GRANT SELECT, INSERT, UPDATE ON api_keys TO turnvault_processor;
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_processor ON api_keys TO turnvault_processor USING (true) WITH CHECK (true);

CREATE TABLE admin_actions (
  tenant_id text NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  at timestamptz NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, seq)
);
GRANT SELECT, INSERT ON admin_actions TO turnvault_processor;
ALTER TABLE admin_actions ENABLE ROW LEVEL SECURITY;
ALTER TABLE admin_actions FORCE ROW LEVEL SECURITY;
CREATE POLICY admin_actions_processor ON admin_actions TO turnvault_processor USING (true) WITH CHECK (true);
CREATE TRIGGER admin_actions_append_only BEFORE UPDATE OR DELETE ON admin_actions
  FOR EACH ROW EXECUTE FUNCTION turnvault_reject_change();
CREATE TRIGGER admin_actions_no_truncate BEFORE TRUNCATE ON admin_actions
  FOR EACH STATEMENT EXECUTE FUNCTION turnvault_reject_change();

-- Down Migration
DROP TABLE admin_actions;
DROP TABLE api_keys;
