/** PostgreSQL-backed stores (issue: PostgreSQL adapters). */
import { Layer, type Redacted } from "effect"
import type { AppConfig } from "../config/AppConfig"
import type { MemoryStoresLive } from "../stores/memory"

export const postgresStores = (_url: Redacted.Redacted<string>, _config: AppConfig) => {
  // Replaced once the PostgreSQL adapters land.
  return Layer.die("PostgreSQL adapters are not built yet") as unknown as typeof MemoryStoresLive
}
