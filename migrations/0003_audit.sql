-- Up Migration
-- The append-only audit trail (DESIGN 3.5, 4). Written only by PgAuditStore, insert-only:
-- triggers reject UPDATE, DELETE and TRUNCATE for every role, owner included.
CREATE TABLE turn_records (
  tenant_id text NOT NULL,
  turn_id text NOT NULL,
  session_id text NOT NULL,
  turn_number integer NOT NULL,
  -- The record exactly as the domain built it (its `occurred_at` string included).
  record jsonb NOT NULL,
  prev_hash text,
  hash text NOT NULL,
  occurred_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT turn_records_turn_key PRIMARY KEY (tenant_id, turn_id)
);

CREATE INDEX turn_records_session_idx ON turn_records (tenant_id, session_id, turn_number);

CREATE TABLE session_history (
  tenant_id text NOT NULL,
  session_id text NOT NULL,
  seq integer NOT NULL,
  event_key text NOT NULL,
  turn_id text,
  prev_content_hash text,
  new_content_hash text NOT NULL,
  from_status text,
  to_status text NOT NULL,
  actor text NOT NULL,
  reason text NOT NULL,
  -- text: the exact ISO string of the event round-trips.
  occurred_at text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, session_id, seq)
);

CREATE FUNCTION turnvault_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'turnvault: % on % is not allowed, the table is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER turn_records_append_only BEFORE UPDATE OR DELETE ON turn_records
  FOR EACH ROW EXECUTE FUNCTION turnvault_reject_change();
CREATE TRIGGER turn_records_no_truncate BEFORE TRUNCATE ON turn_records
  FOR EACH STATEMENT EXECUTE FUNCTION turnvault_reject_change();
CREATE TRIGGER session_history_append_only BEFORE UPDATE OR DELETE ON session_history
  FOR EACH ROW EXECUTE FUNCTION turnvault_reject_change();
CREATE TRIGGER session_history_no_truncate BEFORE TRUNCATE ON session_history
  FOR EACH STATEMENT EXECUTE FUNCTION turnvault_reject_change();

-- Down Migration
DROP TABLE session_history;
DROP TABLE turn_records;
DROP FUNCTION turnvault_reject_change();
