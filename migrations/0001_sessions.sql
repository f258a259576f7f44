-- Up Migration
-- Session state (DESIGN 3.5). Written only by PgSessionStore. The exact state, including its own
-- `updated_at` string, lives in `state`; the other columns are for queries and operators.
CREATE TABLE sessions (
  tenant_id text NOT NULL,
  session_id text NOT NULL,
  customer_id text NOT NULL,
  agent_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('ACTIVE', 'ENDED', 'ABANDONED')),
  state jsonb NOT NULL,
  content_hash text NOT NULL,
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, session_id)
);

CREATE INDEX sessions_customer_idx ON sessions (tenant_id, customer_id);

-- Down Migration
DROP TABLE sessions;
