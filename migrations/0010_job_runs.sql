-- Up Migration
-- Background jobs (DESIGN 3.6): one row per (job, schedule tick) that some instance claimed, where
-- tick = floor(epoch milliseconds / the job's interval). An instance runs a job's tick only if its
-- INSERT ... ON CONFLICT DO NOTHING put the row in: the primary key admits one claim per tick
-- across the cluster, and the row stays, so an instance that wakes after the winner finished does
-- not run the tick again. The row then records how the run went, for operators.
-- No tenant data: no tenant_id (a run covers every tenant). Row-level security is enabled and
-- forced as on every other table, with a policy for the processor role only: the tenant role has
-- neither a grant nor a policy, so it sees nothing.
CREATE TABLE job_runs (
  job text NOT NULL,
  tick bigint NOT NULL,
  instance text NOT NULL,
  started_at timestamptz NOT NULL,
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'failed')),
  finished_at timestamptz,
  items_changed integer,
  PRIMARY KEY (job, tick)
);

GRANT SELECT, INSERT, UPDATE ON job_runs TO turnvault_processor;

ALTER TABLE job_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY job_runs_processor ON job_runs TO turnvault_processor USING (true) WITH CHECK (true);

-- Down Migration
DROP TABLE job_runs;
