-- Up Migration
-- Crypto-shredding (issue 16, decision 0019). customer_keys: each customer's data keys, sealed
-- (AES-256-GCM) under the key-encryption key of TURNVAULT_KEK, which the database never sees.
-- At most one live version per customer; erasing the customer sets `wrapped` to NULL on every
-- version (the ciphertext sealed under them can no longer be opened) and `destroyed_at`.
-- erasure_receipts: one per erasure, hash-chained per tenant, append-only like the audit tables.
CREATE TABLE customer_keys (
  tenant_id text NOT NULL,
  customer_id text NOT NULL,
  version integer NOT NULL,
  wrapped bytea,
  created_at timestamptz NOT NULL DEFAULT now(),
  destroyed_at timestamptz,
  PRIMARY KEY (tenant_id, customer_id, version),
  CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
);

CREATE UNIQUE INDEX customer_keys_live ON customer_keys (tenant_id, customer_id) WHERE destroyed_at IS NULL;

CREATE TABLE erasure_receipts (
  tenant_id text NOT NULL,
  seq integer NOT NULL,
  customer_id text NOT NULL,
  erased_at text NOT NULL,
  erased_by text NOT NULL,
  reason text NOT NULL,
  key_versions integer[] NOT NULL,
  prev_hash text,
  hash text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, seq)
);

CREATE TRIGGER erasure_receipts_append_only BEFORE UPDATE OR DELETE ON erasure_receipts
  FOR EACH ROW EXECUTE FUNCTION turnvault_reject_change();
CREATE TRIGGER erasure_receipts_no_truncate BEFORE TRUNCATE ON erasure_receipts
  FOR EACH STATEMENT EXECUTE FUNCTION turnvault_reject_change();

-- The processor makes and destroys keys and appends receipts; a tenant may read its receipts,
-- never the keys.
GRANT SELECT, INSERT, UPDATE ON customer_keys TO turnvault_processor;
GRANT SELECT, INSERT ON erasure_receipts TO turnvault_processor;
GRANT SELECT ON erasure_receipts TO turnvault_tenant;

ALTER TABLE customer_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY customer_keys_processor ON customer_keys TO turnvault_processor USING (true) WITH CHECK (true);

ALTER TABLE erasure_receipts ENABLE ROW LEVEL SECURITY;
ALTER TABLE erasure_receipts FORCE ROW LEVEL SECURITY;
CREATE POLICY erasure_receipts_processor ON erasure_receipts TO turnvault_processor USING (true) WITH CHECK (true);
CREATE POLICY erasure_receipts_tenant ON erasure_receipts TO turnvault_tenant
  USING (tenant_id = (SELECT turnvault_bound_tenant()));

-- Down Migration
DROP TABLE erasure_receipts;
DROP TABLE customer_keys;
