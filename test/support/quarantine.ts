/**
 * Test helpers for quarantine: records of one test partition (events and operators' control
 * messages) in offset order, and a trigger that makes PostgreSQL refuse a session's turn records
 * for good, as it would a value it cannot hold.
 */
import { CONTROL_HEADER } from "../../streams/quarantine"
import type { SourceRecord } from "../../src/ports/EventSource"

/** Consecutive records of partition 0 of topic `test`. */
export const testPartition = () => {
  let nextOffset = 0
  const at = () => ({ topic: "test", partition: 0, offset: String(nextOffset++) })
  return {
    event: (event: Record<string, unknown>): SourceRecord => ({
      ...at(),
      key: String(event.session_id),
      value: Buffer.from(JSON.stringify(event))
    }),
    control: (action: string, tenant: string, session: string): SourceRecord => ({
      ...at(),
      key: JSON.stringify([tenant, "c1"]),
      value: Buffer.from(JSON.stringify({ tenant_id: tenant, session_id: session })),
      headers: { [CONTROL_HEADER]: action }
    })
  }
}

/**
 * SQL that makes every insert of a turn record of a session listed in `refused_sessions` fail with
 * SQLSTATE 22023 and the message `value refused`.
 */
export const REFUSE_LISTED_SESSIONS = `
CREATE TABLE refused_sessions (session_id text PRIMARY KEY);
CREATE FUNCTION refuse_listed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM refused_sessions WHERE session_id = NEW.session_id) THEN
    RAISE EXCEPTION 'value refused' USING ERRCODE = '22023';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_listed BEFORE INSERT ON turn_records FOR EACH ROW EXECUTE FUNCTION refuse_listed();`
