-- Up Migration
-- Row-level security (DESIGN 3.7).
--
-- Roles (cluster-wide, created once, shared by every turnvault database on the server):
--   turnvault_processor  the stream processor and its jobs. Its policy sees and writes every
--                        tenant: the processor handles all tenants and filters by tenant_id itself.
--                        The role running this migration (the tables' owner) becomes a member, so
--                        the processor connects as the owner, or as any login role granted
--                        turnvault_processor.
--   turnvault_tenant     tenant-facing reads (admin API). Its policy admits only the rows of the
--                        tenant in `turnvault.tenant_id`, set per transaction with
--                        `SET LOCAL ROLE turnvault_tenant` + `set_config('turnvault.tenant_id', $1, true)`
--                        (src/stores/postgres/TenantReader.ts). Unset means no rows, never all rows.
-- FORCE ROW LEVEL SECURITY subjects the owner too, so a query that forgets the tenant role still
-- goes through a policy. Superusers and BYPASSRLS roles are exempt by PostgreSQL's design.
DO $$
BEGIN
  CREATE ROLE turnvault_processor NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
BEGIN
  CREATE ROLE turnvault_tenant NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
BEGIN
  IF NOT pg_has_role(current_user, 'turnvault_processor', 'MEMBER') THEN
    EXECUTE format('GRANT turnvault_processor TO %I', current_user);
  END IF;
  IF NOT pg_has_role(current_user, 'turnvault_tenant', 'MEMBER') THEN
    EXECUTE format('GRANT turnvault_tenant TO %I', current_user);
  END IF;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON sessions, field_definitions, profile_fields TO turnvault_processor, turnvault_tenant;
GRANT SELECT, INSERT ON turn_records, session_history TO turnvault_processor, turnvault_tenant;

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY sessions_processor ON sessions TO turnvault_processor USING (true) WITH CHECK (true);
CREATE POLICY sessions_tenant ON sessions TO turnvault_tenant
  USING (tenant_id = current_setting('turnvault.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('turnvault.tenant_id', true));

ALTER TABLE field_definitions ENABLE ROW LEVEL SECURITY;
ALTER TABLE field_definitions FORCE ROW LEVEL SECURITY;
CREATE POLICY field_definitions_processor ON field_definitions TO turnvault_processor USING (true) WITH CHECK (true);
CREATE POLICY field_definitions_tenant ON field_definitions TO turnvault_tenant
  USING (tenant_id = current_setting('turnvault.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('turnvault.tenant_id', true));

ALTER TABLE profile_fields ENABLE ROW LEVEL SECURITY;
ALTER TABLE profile_fields FORCE ROW LEVEL SECURITY;
CREATE POLICY profile_fields_processor ON profile_fields TO turnvault_processor USING (true) WITH CHECK (true);
CREATE POLICY profile_fields_tenant ON profile_fields TO turnvault_tenant
  USING (tenant_id = current_setting('turnvault.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('turnvault.tenant_id', true));

ALTER TABLE turn_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE turn_records FORCE ROW LEVEL SECURITY;
CREATE POLICY turn_records_processor ON turn_records TO turnvault_processor USING (true) WITH CHECK (true);
CREATE POLICY turn_records_tenant ON turn_records TO turnvault_tenant
  USING (tenant_id = current_setting('turnvault.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('turnvault.tenant_id', true));

ALTER TABLE session_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE session_history FORCE ROW LEVEL SECURITY;
CREATE POLICY session_history_processor ON session_history TO turnvault_processor USING (true) WITH CHECK (true);
CREATE POLICY session_history_tenant ON session_history TO turnvault_tenant
  USING (tenant_id = current_setting('turnvault.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('turnvault.tenant_id', true));

-- Down Migration
-- The roles stay: they are cluster-wide and other turnvault databases on the server may use them.
DROP POLICY session_history_tenant ON session_history;
DROP POLICY session_history_processor ON session_history;
ALTER TABLE session_history NO FORCE ROW LEVEL SECURITY;
ALTER TABLE session_history DISABLE ROW LEVEL SECURITY;
DROP POLICY turn_records_tenant ON turn_records;
DROP POLICY turn_records_processor ON turn_records;
ALTER TABLE turn_records NO FORCE ROW LEVEL SECURITY;
ALTER TABLE turn_records DISABLE ROW LEVEL SECURITY;
DROP POLICY profile_fields_tenant ON profile_fields;
DROP POLICY profile_fields_processor ON profile_fields;
ALTER TABLE profile_fields NO FORCE ROW LEVEL SECURITY;
ALTER TABLE profile_fields DISABLE ROW LEVEL SECURITY;
DROP POLICY field_definitions_tenant ON field_definitions;
DROP POLICY field_definitions_processor ON field_definitions;
ALTER TABLE field_definitions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE field_definitions DISABLE ROW LEVEL SECURITY;
DROP POLICY sessions_tenant ON sessions;
DROP POLICY sessions_processor ON sessions;
ALTER TABLE sessions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE sessions DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON sessions, field_definitions, profile_fields, turn_records, session_history FROM turnvault_processor, turnvault_tenant;
