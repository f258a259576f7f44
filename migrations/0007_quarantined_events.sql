-- Up Migration
-- Quarantine (issue 12): a session whose event the stores refuse for good is set aside; that event
-- and every later event of the session are parked here, in order, with their original bytes, so
-- the partition moves on and nothing is lost. `turnvault quarantine release` replays them through
-- the flow, `drop` sends them to the DLQ; the partition's owner carries both out and marks the rows
-- (`status`, `resolved_by` = the control message), which stay as the record of what happened.
-- The table is small (quarantine is rare): the partition and control-message look-ups scan it.
CREATE TABLE quarantined_events (
  tenant_id text NOT NULL,
  session_id text NOT NULL,
  seq bigserial NOT NULL,
  customer_id text NOT NULL,
  event_id text NOT NULL,
  turn_id text,
  topic text NOT NULL,
  partition integer NOT NULL,
  record_offset bigint NOT NULL,
  record_key text,
  value bytea NOT NULL,
  headers jsonb NOT NULL DEFAULT '{}',
  reason text NOT NULL CHECK (reason IN ('store_refused', 'apply_failed', 'session_quarantined')),
  error text NOT NULL,
  status text NOT NULL DEFAULT 'parked' CHECK (status IN ('parked', 'released', 'dropped')),
  parked_at timestamptz NOT NULL DEFAULT now(),
  resolved_by text,
  resolved_at timestamptz,
  PRIMARY KEY (tenant_id, session_id, seq)
);

GRANT SELECT, INSERT, UPDATE ON quarantined_events TO turnvault_processor;
GRANT SELECT ON quarantined_events TO turnvault_tenant;
GRANT USAGE ON SEQUENCE quarantined_events_seq_seq TO turnvault_processor;

ALTER TABLE quarantined_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE quarantined_events FORCE ROW LEVEL SECURITY;
CREATE POLICY quarantined_events_processor ON quarantined_events TO turnvault_processor
  USING (true) WITH CHECK (true);
CREATE POLICY quarantined_events_tenant ON quarantined_events TO turnvault_tenant
  USING (tenant_id = current_setting('turnvault.tenant_id', true));

-- Down Migration
DROP TABLE quarantined_events;
