-- Up Migration
-- A tenant path that cannot escape (DESIGN 3.7, decision 0013).
--
-- Tenant-facing queries (TenantReader, the admin API) connect as turnvault_authenticator: a login
-- role with NOINHERIT and no rights of its own, member of turnvault_tenant only, so the one role
-- it can SET ROLE to is the tenant role, and RESET ROLE leaves it with nothing. The tenant role is
-- SELECT-only. Which tenant a connection may read is not a setting the session can change: the
-- processor writes (backend pid -> tenant) into tenant_bindings, which the tenant and authenticator
-- roles cannot touch, and every tenant policy compares tenant_id with turnvault_bound_tenant(), a
-- SECURITY DEFINER lookup of the caller's own pid. `set_config('turnvault.tenant_id', ...)` no
-- longer grants anything.
DO $$
BEGIN
  CREATE ROLE turnvault_authenticator LOGIN NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- (another database of the server migrating at the same moment may grant it first)
DO $$
BEGIN
  IF NOT pg_has_role('turnvault_authenticator', 'turnvault_tenant', 'MEMBER') THEN
    GRANT turnvault_tenant TO turnvault_authenticator;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- the tenant role reads; writes go through the processor's own code paths
REVOKE INSERT, UPDATE, DELETE ON sessions, field_definitions, profile_fields FROM turnvault_tenant;
REVOKE INSERT ON turn_records, session_history FROM turnvault_tenant;

CREATE TABLE tenant_bindings (
  pid integer PRIMARY KEY,
  bound_tenant_id text NOT NULL,
  bound_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_bindings TO turnvault_processor;
ALTER TABLE tenant_bindings ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_bindings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_bindings_processor ON tenant_bindings TO turnvault_processor
  USING (true) WITH CHECK (true);

CREATE FUNCTION turnvault_bound_tenant() RETURNS text
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$ SELECT bound_tenant_id FROM public.tenant_bindings WHERE pid = pg_backend_pid() $$;
REVOKE ALL ON FUNCTION turnvault_bound_tenant() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION turnvault_bound_tenant() TO turnvault_tenant, turnvault_processor;

-- `(SELECT ...)`: evaluated once per statement, not once per row
ALTER POLICY sessions_tenant ON sessions
  USING (tenant_id = (SELECT turnvault_bound_tenant())) WITH CHECK (tenant_id = (SELECT turnvault_bound_tenant()));
ALTER POLICY field_definitions_tenant ON field_definitions
  USING (tenant_id = (SELECT turnvault_bound_tenant())) WITH CHECK (tenant_id = (SELECT turnvault_bound_tenant()));
ALTER POLICY profile_fields_tenant ON profile_fields
  USING (tenant_id = (SELECT turnvault_bound_tenant())) WITH CHECK (tenant_id = (SELECT turnvault_bound_tenant()));
ALTER POLICY turn_records_tenant ON turn_records
  USING (tenant_id = (SELECT turnvault_bound_tenant())) WITH CHECK (tenant_id = (SELECT turnvault_bound_tenant()));
ALTER POLICY session_history_tenant ON session_history
  USING (tenant_id = (SELECT turnvault_bound_tenant())) WITH CHECK (tenant_id = (SELECT turnvault_bound_tenant()));
ALTER POLICY quarantined_events_tenant ON quarantined_events
  USING (tenant_id = (SELECT turnvault_bound_tenant()));
ALTER POLICY scenario_requirements_tenant ON scenario_requirements
  USING (tenant_id = (SELECT turnvault_bound_tenant()));
ALTER POLICY profile_tombstones_tenant ON profile_tombstones
  USING (tenant_id = (SELECT turnvault_bound_tenant()));
ALTER POLICY profile_assets_tenant ON profile_assets
  USING (tenant_id = (SELECT turnvault_bound_tenant()));

-- Down Migration
-- The role stays: roles are cluster-wide and other turnvault databases on the server may use it.
ALTER POLICY profile_assets_tenant ON profile_assets
  USING (tenant_id = current_setting('turnvault.tenant_id', true));
ALTER POLICY profile_tombstones_tenant ON profile_tombstones
  USING (tenant_id = current_setting('turnvault.tenant_id', true));
ALTER POLICY scenario_requirements_tenant ON scenario_requirements
  USING (tenant_id = current_setting('turnvault.tenant_id', true));
ALTER POLICY quarantined_events_tenant ON quarantined_events
  USING (tenant_id = current_setting('turnvault.tenant_id', true));
ALTER POLICY session_history_tenant ON session_history
  USING (tenant_id = current_setting('turnvault.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('turnvault.tenant_id', true));
ALTER POLICY turn_records_tenant ON turn_records
  USING (tenant_id = current_setting('turnvault.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('turnvault.tenant_id', true));
ALTER POLICY profile_fields_tenant ON profile_fields
  USING (tenant_id = current_setting('turnvault.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('turnvault.tenant_id', true));
ALTER POLICY field_definitions_tenant ON field_definitions
  USING (tenant_id = current_setting('turnvault.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('turnvault.tenant_id', true));
ALTER POLICY sessions_tenant ON sessions
  USING (tenant_id = current_setting('turnvault.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('turnvault.tenant_id', true));
DROP FUNCTION turnvault_bound_tenant();
DROP TABLE tenant_bindings;
GRANT INSERT ON turn_records, session_history TO turnvault_tenant;
GRANT INSERT, UPDATE, DELETE ON sessions, field_definitions, profile_fields TO turnvault_tenant;
