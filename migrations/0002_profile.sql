-- Up Migration
-- Customer context vault and field definitions (DESIGN 3.1, 3.6). Written only by PgProfileStore.
CREATE TABLE field_definitions (
  tenant_id text NOT NULL,
  agent_id text NOT NULL,
  name text NOT NULL,
  -- The definition without `version`: jsonb equality decides whether an upsert changed it.
  definition jsonb NOT NULL,
  version integer NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, agent_id, name)
);

-- `id` is deterministic per (tenant, customer, name, source_item_id); the key leads with tenant_id
-- like every index here. `updated_at` and `expires_at` are text so the exact ISO string the domain
-- wrote round-trips; queries compare them as `::timestamptz`.
CREATE TABLE profile_fields (
  tenant_id text NOT NULL,
  id text NOT NULL,
  customer_id text NOT NULL,
  name text NOT NULL,
  value jsonb,
  scope text NOT NULL CHECK (scope IN ('IDENTITY', 'BUSINESS', 'CASE', 'SESSION')),
  status text NOT NULL CHECK (status IN ('active', 'superseded', 'expired', 'orphaned')),
  source text NOT NULL,
  confidence double precision NOT NULL,
  updated_at text NOT NULL,
  source_item_id text NOT NULL,
  source_item_type text NOT NULL CHECK (source_item_type IN ('turn', 'tool', 'import', 'field', 'asset')),
  source_metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  superseded_by_id text,
  case_id text,
  expires_at text,
  validation_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

-- At most one active row per field (DESIGN 3.3).
CREATE UNIQUE INDEX profile_fields_one_active_idx
  ON profile_fields (tenant_id, customer_id, name) WHERE status = 'active';
CREATE INDEX profile_fields_customer_idx ON profile_fields (tenant_id, customer_id);
CREATE INDEX profile_fields_source_item_idx ON profile_fields (tenant_id, source_item_id);
-- Lineage: who derives from an item (deleteItem, markOrphans).
CREATE INDEX profile_fields_derived_from_idx
  ON profile_fields (tenant_id, (source_metadata ->> 'derived_from'));

-- Down Migration
DROP TABLE profile_fields;
DROP TABLE field_definitions;
