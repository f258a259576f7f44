/**
 * The PostgreSQL check of `/readyz`: `SELECT 1` on a one-connection pool of its own, so it says
 * whether the server answers even while the stores' pool is busy.
 */
import { type Duration, Effect, Redacted } from "effect"
import { defaultPingTimeout, type HealthCheck, pingCheck } from "../../observability/Readiness"
import * as PgClient from "./PgClient"

export const postgresHealthCheck = (
  url: Redacted.Redacted<string>,
  timeout: Duration.DurationInput = defaultPingTimeout
): HealthCheck =>
  Effect.map(PgClient.make({ connectionString: Redacted.value(url), max: 1 }), (pg) =>
    pingCheck("postgres", pg.query("SELECT 1"), timeout)
  )
