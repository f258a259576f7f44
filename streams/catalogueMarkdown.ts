/** Renders the topic catalogue as docs/TOPICS.md (`npm run topics:doc`; a test fails on drift). */
import { writeFileSync } from "node:fs"
import { topicCatalogue } from "./topics"

const days = (ms: number) => (ms < 0 ? "for ever" : `${ms / 86_400_000} d`)
const kib = (bytes: number) => `${(bytes / 1024).toLocaleString("en-US")} KiB`

export const renderCatalogue = (): string => {
  const rows = topicCatalogue("turnvault.", 8).map(
    (t) =>
      `| \`${t.name}\` | ${t.role} | ${t.key} | ${t.value} | ${t.partitions} | ${days(t.retentionMs)} | ${t.cleanupPolicy} | ${kib(t.maxMessageBytes)} | ${t.description} |`
  )
  return [
    "# Topic catalogue",
    "",
    "Generated from `streams/topics.ts` by `npm run topics:doc`. Names take the prefix",
    "`TURNVAULT_TOPIC_PREFIX` (default `turnvault.`); partitions are `TURNVAULT_PARTITIONS` (default 8).",
    "`turnvault topics ensure` creates missing topics with these settings and reports topics that have",
    "fewer partitions than catalogued. `max.message.bytes` is shown for the default",
    "`TURNVAULT_MAX_EVENT_BYTES` (1 MiB); it grows with it (DESIGN 5).",
    "",
    "| topic | role | key | value | partitions | retention | cleanup | max.message.bytes | what |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
    ""
  ].join("\n")
}

if (process.argv[1]?.endsWith("catalogueMarkdown.ts")) {
  writeFileSync(new URL("../docs/TOPICS.md", import.meta.url), renderCatalogue())
}
