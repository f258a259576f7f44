-- Up Migration
-- Scenario field requirements (issue 13, background 004 `ScenarioFieldRequirement`): per (tenant,
-- agent, scenario, step) the fields a scenario needs. Written only by PgProfileStore, like the
-- field definitions they name: `step_id` is '' for a requirement of every step of the scenario (a
-- key column cannot be NULL); `requirement` is the requirement without `version`, and jsonb
-- equality decides whether an import changed it (then `version` + 1).
CREATE TABLE scenario_requirements (
  tenant_id text NOT NULL,
  agent_id text NOT NULL,
  scenario_id text NOT NULL,
  step_id text NOT NULL,
  field_name text NOT NULL,
  requirement jsonb NOT NULL,
  version integer NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, agent_id, scenario_id, step_id, field_name)
);

GRANT SELECT, INSERT, UPDATE ON scenario_requirements TO turnvault_processor;
GRANT SELECT ON scenario_requirements TO turnvault_tenant;

ALTER TABLE scenario_requirements ENABLE ROW LEVEL SECURITY;
ALTER TABLE scenario_requirements FORCE ROW LEVEL SECURITY;
CREATE POLICY scenario_requirements_processor ON scenario_requirements TO turnvault_processor
  USING (true) WITH CHECK (true);
CREATE POLICY scenario_requirements_tenant ON scenario_requirements TO turnvault_tenant
  USING (tenant_id = current_setting('turnvault.tenant_id', true));

-- Down Migration
DROP TABLE scenario_requirements;
