/** Renders a run's results as the Markdown summary and a hand-written SVG bar chart. */
import { cpus } from "node:os"
import { round } from "./measure"

// The report is read loosely: a scenario that failed carries { error } instead of its figures.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Any = any

const fmt = (x: unknown, digits = 0) =>
  typeof x === "number" && Number.isFinite(x)
    ? x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "n/a"
const met = (x: unknown, ok: (v: number) => boolean) =>
  typeof x === "number" && Number.isFinite(x) ? (ok(x) ? "yes" : "no") : "n/a"
const pct = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : "n/a")

/**
 * The headline figures of a run, one number per key (bench/results/latest.json). Machine CPU per
 * turn is the whole machine's busy share over the end-to-end window (turnvault, PostgreSQL, Kafka,
 * Redis and anything else running) times its cores, divided by the turns made durable.
 */
// biome-ignore lint/suspicious/noExplicitAny: the report is assembled from scenario outputs
export const latestFigures = (report: { git: { revision: string }; results: Record<string, any> }) => {
  const r = report.results
  const e2e = r.endToEnd ?? {}
  const consume = r.kafkaCeiling?.messagesPerSec ?? null
  const pgBest = Math.max(...(r.pgCeiling?.variants ?? []).map((v: { turnsPerSec: number }) => v.turnsPerSec))
  const lower = consume === null || !Number.isFinite(pgBest) ? null : Math.min(consume, pgBest)
  const p99At = (rate: number) =>
    (r.latency ?? []).find((l: { turnsPerSecOffered: number }) => l.turnsPerSecOffered === rate)?.latencyMs
      ?.p99 ?? null
  const cores = cpus().length
  const machineUs =
    e2e.machineBusy === undefined
      ? null
      : round((e2e.machineBusy * cores * e2e.seconds * 1e6) / e2e.turnsDurable, 0)
  return {
    e2e_turns_per_s: e2e.turnsPerSec ?? null,
    naive_turns_per_s: r.naive?.turnsPerSec ?? null,
    ratio_vs_naive:
      e2e.turnsPerSec && r.naive?.turnsPerSec ? round(e2e.turnsPerSec / r.naive.turnsPerSec, 1) : null,
    ceiling_consume_per_s: consume,
    ceiling_pg_turns_per_s: Number.isFinite(pgBest) ? pgBest : null,
    fraction_of_lower_ceiling: lower === null || !e2e.turnsPerSec ? null : round(e2e.turnsPerSec / lower, 3),
    turnvault_cpu_us_per_turn: e2e.cpuPerTurnUs ?? null,
    machine_cpu_us_per_turn: machineUs,
    p99_ms_at_1000: p99At(1000),
    p99_ms_at_2000: p99At(2000),
    git_revision: report.git.revision
  }
}

/** The headline figures every view shares. */
export const headline = (report: Any) => {
  const r = report.results
  const turnsPerEvent = report.workload.turns / report.workload.events
  const e2e = r.endToEnd?.turnsPerSec
  const naive = r.naive?.turnsPerSec
  const kafka =
    r.kafkaCeiling?.messagesPerSec === undefined ? undefined : r.kafkaCeiling.messagesPerSec * turnsPerEvent
  const pg = r.pgCeiling?.best?.turnsPerSec
  const lower = [kafka, pg]
    .filter((x) => typeof x === "number")
    .reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY)
  const at2000 = (r.latency ?? []).find((l: Any) => l.turnsPerSecOffered === 2000)
  return {
    e2e,
    naive,
    kafka,
    pg,
    lower: Number.isFinite(lower) ? lower : undefined,
    speedup: e2e !== undefined && naive ? e2e / naive : undefined,
    ofCeiling: e2e !== undefined && Number.isFinite(lower) ? e2e / lower : undefined,
    p99At2000: at2000?.latencyMs?.p99
  }
}

const dist = (d: Any, digits = 1) =>
  d === undefined
    ? "n/a | n/a | n/a"
    : `${fmt(d.p50, digits)} | ${fmt(d.p95, digits)} | ${fmt(d.p99, digits)}`

export const renderMarkdown = (report: Any, svgName: string): string => {
  const r = report.results
  const h = headline(report)
  const f = latestFigures(report)
  const w = report.workload
  const m = report.machine
  const lines: Array<string> = []
  const add = (...xs: Array<string>) => lines.push(...xs)
  add(
    `# turnvault benchmarks — ${report.kind} run, ${report.date.slice(0, 16).replace("T", " ")} UTC`,
    "",
    `- Command: \`${report.command}\` (took ${report.durationSeconds} s)`,
    `- Git revision: \`${report.git.revision}\`${report.git.dirty ? " (working tree had uncommitted changes in src/streams/schemas/bench)" : ""}`,
    `- Machine: ${m.cpu}, ${m.memoryGb} GB RAM, Linux ${m.kernel}, Node ${m.node}`,
    `- Services (co-located): Kafka ${m.kafka}; PostgreSQL ${m.postgres}; ${m.redis} (own redis-server per run)`,
    `- Load average (1/5/15 min) at start ${m.loadAtStart.join(" / ")}, at end ${report.loadAtEnd.join(" / ")} — the machine was shared with other engineers' test runs; see the per-scenario load below.`,
    "",
    `![throughput](${svgName})`,
    "",
    "## Workload",
    "",
    `${fmt(w.events)} events (${fmt(w.turns)} turn.completed, ${w.sessionEnded} session.ended, ${w.caseClosed} case.closed) from the project's`,
    `synthetic generator (seeded): ${w.tenants} tenants, ${fmt(w.customers)} customers, ${fmt(w.sessions)} sessions (${fmt(w.concurrentSessions)} open at a time,`,
    `up to ${w.turnsPerSession} turns each), ${w.candidateVariablesPerTurn} candidate variables per turn on average (1–3; ${pct(w.invalidShare)} invalid),`,
    `payload ${w.payloadBytesMean} bytes mean (${w.payloadBytesMax} max), ${w.partitions} partitions, key = session_id.`,
    "",
    "## Side by side (same topic, same machine, same run)",
    "",
    "| | turns/s | vs naive | of lower ceiling | CPU µs/turn | peak RSS MB |",
    "|---|---:|---:|---:|---:|---:|",
    `| turnvault end to end (Kafka → PostgreSQL + Redis → Kafka) | ${fmt(h.e2e)} | ${h.speedup === undefined ? "n/a" : `${fmt(h.speedup, 1)}×`} | ${pct(h.ofCeiling)} | ${fmt(r.endToEnd?.cpuPerTurnUs)} | ${fmt(r.endToEnd?.peakRssMb)} |`,
    `| naive baseline (eachMessage, SELECTs, 1 INSERT/row, awaited produce per output) | ${fmt(h.naive)} | 1× | ${pct(h.naive !== undefined && h.lower ? h.naive / h.lower : undefined)} | ${fmt(r.naive?.cpuPerTurnUs)} | ${fmt(r.naive?.peakRssMb)} |`,
    `| ceiling: raw kafkajs consume, no processing | ${fmt(h.kafka)} | | | | ${fmt(r.kafkaCeiling?.peakRssMb)} |`,
    `| ceiling: raw PostgreSQL bulk writes of the same rows (best of 1 and ${r.pgCeiling?.variants?.[1]?.connections ?? "n"} connections) | ${fmt(h.pg)} | | | | |`,
    "",
    `End to end: ${fmt(r.endToEnd?.turnsDurable)} turns durable in ${fmt(r.endToEnd?.seconds, 1)} s from the consumer group join (steady rate after the first durable batch: ${fmt(r.endToEnd?.steadyTurnsPerSec)} turns/s);`,
    `process CPU ${fmt(r.endToEnd?.cpuSeconds?.total, 1)} s (${fmt(r.endToEnd?.cpuUtilisation, 2)} cores), machine busy ${pct(r.endToEnd?.machineBusy)}. Kafka ceiling counted as messages/s × turns per event.`,
    ...(r.endToEnd?.timeSpent === undefined
      ? []
      : [
          `Where a batch's wall time went (turnvault's own histograms, mean per observation): ${Object.entries(
            r.endToEnd.timeSpent
          )
            .map(([k, v]: [string, Any]) => `${k} ${fmt(v.meanMs, 1)} ms × ${fmt(v.count)}`)
            .join(
              "; "
            )}. turnDuration is observed once per turn with its batch's wall time (activation, apply, persist, publish).`
        ]),
    `Naive: ${fmt(r.naive?.turns)} turns in ${fmt(r.naive?.seconds, 1)} s (time budget), ${fmt(r.naive?.perTurnMs, 2)} ms per turn.`,
    "",
    "## Targets",
    "",
    "| target | measured | met |",
    "|---|---|:-:|",
    `| end to end ≥ 4,000 turns/s sustained | ${fmt(h.e2e)} turns/s | ${met(h.e2e, (v) => v >= 4_000)} |`,
    `| ≥ 25× the naive baseline | ${h.speedup === undefined ? "n/a" : `${fmt(h.speedup, 1)}×`} | ${met(h.speedup, (v) => v >= 25)} |`,
    `| ≥ 60% of the lower component ceiling | ${pct(h.ofCeiling)} | ${met(h.ofCeiling, (v) => v >= 0.6)} |`,
    `| turnvault CPU ≤ 150 µs per turn end to end | ${fmt(f.turnvault_cpu_us_per_turn)} µs | ${met(f.turnvault_cpu_us_per_turn, (v) => v <= 150)} |`,
    `| machine CPU ≤ 400 µs per turn (whole machine busy × cores / turns) | ${fmt(f.machine_cpu_us_per_turn)} µs | ${met(f.machine_cpu_us_per_turn, (v) => v <= 400)} |`,
    `| p99 produce → durable ≤ 100 ms at 1,000 turns/s | ${fmt(f.p99_ms_at_1000, 1)} ms | ${met(f.p99_ms_at_1000, (v) => v <= 100)} |`,
    `| p99 produce → durable ≤ 250 ms at 2,000 turns/s | ${fmt(f.p99_ms_at_2000, 1)} ms | ${met(f.p99_ms_at_2000, (v) => v <= 250)} |`,
    `| p99 CPU per turn (decode + validation + customer data) ≤ 5 ms | ${fmt(r.cpu?.pureUs?.decodePlusApply?.p99, 0)} µs | ${r.cpu?.pureUs?.decodePlusApply?.p99 <= 5000 ? "yes" : "no"} |`,
    `| the three writes of a batch pipelined, ≥ 40% faster than sequential | shared transaction, pipelined: ${pct(r.persistence?.concurrentGain?.sharedPerBatch)} per batch, ${pct(r.persistence?.concurrentGain?.sharedPerTurn)} per turn | ${met(r.persistence?.concurrentGain?.sharedPerBatch, (v) => v >= 0.4)} |`,
    `| telemetry buffer records ≥ 100K entries/s | ${fmt(r.telemetry?.record?.perSec)} /s | ${r.telemetry?.record?.perSec >= 100_000 ? "yes" : "no"} |`,
    "",
    "## Latency, produce → durable",
    "",
    "A paced producer in its own process; durable = the moment TurnBatch.publish hands the turn's record to the output sink (after the batch's transaction committed).",
    "",
    "| offered turns/s | sent (producer) | p50 ms | p95 ms | p99 ms | p99 after 3 s warm-up | CPU cores | peak RSS MB |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|"
  )
  for (const l of r.latency ?? [])
    add(
      l.error !== undefined
        ? `| ${fmt(l.turnsPerSecOffered)} | failed: ${l.error} | | | | | | |`
        : `| ${fmt(l.turnsPerSecOffered)} | ${fmt(l.achievedTurnsPerSec)}${l.complete ? "" : ` (only ${fmt(l.turnsDurable)} of ${fmt(l.turnsExpected)} turns durable at the ${fmt(l.seconds)} s timeout: latencies are lower bounds)`} | ${dist(l.latencyMs)} | ${fmt(l.latencyAfterWarmupMs?.p99, 1)} | ${fmt(l.cpuUtilisation, 2)} | ${fmt(l.peakRssMb)} |`
    )
  const p = r.persistence
  add(
    "",
    "## Persistence composition (session + customer data + turn record), real PostgreSQL",
    "",
    `Units of one turn (${p?.unitsPerTurnMode ?? "n/a"} per mode) and of ${p?.batchTurns ?? "n/a"} turns (${p?.unitsPerBatchMode ?? "n/a"} per mode), modes interleaved.`,
    "",
    "| mode | per turn p50 / p95 / p99 ms | mean | per batch p50 / p95 / p99 ms | mean |",
    "|---|---|---:|---|---:|"
  )
  for (const row of p?.modes ?? [])
    add(
      `| ${row.mode} | ${dist(row.perTurnMs, 2).replaceAll(" | ", " / ")} | ${fmt(row.perTurnMs.mean, 2)} | ${dist(row.perBatchMs, 1).replaceAll(" | ", " / ")} | ${fmt(row.perBatchMs.mean, 1)} |`
    )
  add(
    "",
    `Concurrent vs sequential (1 − mean concurrent / mean sequential): shared transaction ${pct(p?.concurrentGain?.sharedPerTurn)} per turn, ${pct(p?.concurrentGain?.sharedPerBatch)} per batch; independent stores ${pct(p?.concurrentGain?.independentPerTurn)} per turn, ${pct(p?.concurrentGain?.independentPerBatch)} per batch.`,
    "In the shared transaction the three writes queue on one connection (PgClient serialises statements on the ambient connection), so concurrency can only overlap client-side work; with independent stores each write has its own connection and the overlap is real.",
    "",
    "## Per-turn CPU (decode, validation, customer-data update)",
    "",
    "| part | p50 µs | p95 µs | p99 µs | mean µs |",
    "|---|---:|---:|---:|---:|"
  )
  const c = r.cpu?.pureUs ?? {}
  for (const [name, label] of [
    ["decodePlusApply", "decode + SessionActor.handleTurn (all of the pure per-turn work)"],
    ["decode", "decodeTurnEvent (JSON.parse + Effect Schema)"],
    ["handleTurn", "SessionActor.handleTurn"],
    ["customerDataUpdate", "  of which updateCustomerData (match, validate/coerce, apply)"],
    ["canonicalJsonOfStateAndRecord", "  of which canonicalJson of session state + turn record"],
    ["sha256OfStateAndRecord", "  of which sha256 of both"]
  ] as const)
    add(
      `| ${label} | ${fmt(c[name]?.p50, 1)} | ${fmt(c[name]?.p95, 1)} | ${fmt(c[name]?.p99, 1)} | ${fmt(c[name]?.mean, 1)} |`
    )
  add(
    "",
    `Whole in-memory pipeline (streams/TurnStream.handle over memory stores, no-op sink, batches of ${r.cpu?.pipeline?.batchSize}): ${fmt(r.cpu?.pipeline?.cpuPerTurnUs)} µs CPU per turn, ${fmt(r.cpu?.pipeline?.turnsPerSec)} turns/s on one core — the Effect orchestration, logging and metrics around the pure work cost ${fmt((r.cpu?.pipeline?.cpuPerTurnUs ?? Number.NaN) - (c.decodePlusApply?.mean ?? Number.NaN))} µs per turn on top of it.`,
    "",
    "## Telemetry buffer",
    "",
    `- record: ${fmt(r.telemetry?.record?.perSec)} calls/s (${pct(r.telemetry?.record?.acceptedShare)} accepted; ${r.telemetry?.record?.note ?? ""})`,
    `- flush to the telemetry topic (real Kafka sink, chunks of ${r.telemetry?.flush?.flushChunk}): ${fmt(r.telemetry?.flush?.perSec)} entries/s for ${fmt(r.telemetry?.flush?.entries)} entries`,
    "",
    "## Sessions in memory",
    "",
    `${fmt(r.sessions?.sessions)} active session actors (${fmt(r.sessions?.customers)} shared customer snapshots), each with one applied turn: RSS ${fmt(r.sessions?.before?.rssMb)} → ${fmt(r.sessions?.after?.rssMb)} MB, heap ${fmt(r.sessions?.before?.heapUsedMb)} → ${fmt(r.sessions?.after?.heapUsedMb)} MB after forced GC; ${fmt(r.sessions?.rssPerSessionBytes)} bytes RSS (${fmt(r.sessions?.heapPerSessionBytes)} heap) per session. Activation + one turn each took ${fmt(r.sessions?.activateAndApplyMs)} ms.`,
    "",
    "## Profile loads, Redis vs PostgreSQL (bench/profile-cache.bench.ts)",
    "",
    "```",
    ...(r.profileCache?.output ?? [r.profileCache?.error ?? "n/a"]),
    "```"
  )
  if (r.profiles !== undefined && r.profiles.error === undefined) {
    for (const [key, title] of [
      ["endToEnd", "CPU profile: end to end on Kafka + PostgreSQL + Redis (bundled e2e scenario)"],
      ["process", "CPU profile: `turnvault process` on the embedded stores"]
    ] as const) {
      const prof = r.profiles[key]
      if (prof === undefined) continue
      add(
        "",
        `## ${title}`,
        "",
        `${fmt(prof.events)} events; busy ${fmt(prof.busyMs)} ms of ${fmt(prof.wallMs)} ms profiled. Self time by component (share of busy time):`,
        ""
      )
      add("| component | self ms | share |", "|---|---:|---:|")
      for (const comp of prof.components.slice(0, 10))
        add(`| ${comp.component} | ${fmt(comp.selfMs)} | ${comp.share}% |`)
      add(
        "",
        "Top self time in turnvault's own code:",
        "",
        "| function | location | self ms | share |",
        "|---|---|---:|---:|"
      )
      for (const s of prof.topTurnvault.slice(0, 12))
        add(`| ${s.function} | ${s.location} | ${fmt(s.selfMs, 1)} | ${s.share}% |`)
      add(
        "",
        "Top self time overall:",
        "",
        "| function | location | component | share |",
        "|---|---|---|---:|"
      )
      for (const s of prof.topOverall.slice(0, 10))
        add(`| ${s.function} | ${s.location} | ${s.component} | ${s.share}% |`)
    }
  }
  add(
    "",
    "## Load average per scenario (1 / 5 / 15 min, at its start)",
    "",
    "| scenario | load |",
    "|---|---|"
  )
  for (const l of report.loadDuringRun) add(`| ${l.scenario} | ${l.load.join(" / ")} |`)
  add("")
  return lines.join("\n")
}

export const renderSvg = (report: Any): string => {
  const h = headline(report)
  const bars: Array<[string, number | undefined, string]> = [
    ["turnvault end to end", h.e2e, "#2b6cb0"],
    ["naive baseline", h.naive, "#a0aec0"],
    ["ceiling: raw kafkajs consume", h.kafka, "#38a169"],
    ["ceiling: PostgreSQL bulk writes", h.pg, "#d69e2e"]
  ]
  const max = Math.max(10_000, ...bars.map(([, v]) => v ?? 0)) * 1.1
  const width = 760
  const left = 250
  const plot = width - left - 90
  const rowH = 34
  const top = 40
  const height = top + bars.length * rowH + 40
  const x = (v: number) => left + (v / max) * plot
  const esc = (s: string) => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;")
  const rows = bars
    .map(([label, v, color], i) => {
      const y = top + i * rowH
      const value = v ?? 0
      return [
        `<text x="${left - 8}" y="${y + 18}" text-anchor="end">${esc(label)}</text>`,
        `<rect x="${left}" y="${y + 4}" width="${Math.max(1, x(value) - left).toFixed(1)}" height="${rowH - 10}" fill="${color}"/>`,
        `<text x="${(x(value) + 6).toFixed(1)}" y="${y + 18}">${v === undefined ? "n/a" : fmt(v)}</text>`
      ].join("\n  ")
    })
    .join("\n  ")
  const target = x(10_000)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">
  <text x="${left}" y="22" font-weight="bold">turns/s, ${esc(report.kind)} run ${esc(report.date.slice(0, 10))} (${esc(report.machine.cpu)})</text>
  ${rows}
  <line x1="${target.toFixed(1)}" y1="${top}" x2="${target.toFixed(1)}" y2="${top + bars.length * rowH}" stroke="#c53030" stroke-dasharray="4 3"/>
  <text x="${target.toFixed(1)}" y="${top + bars.length * rowH + 16}" text-anchor="middle" fill="#c53030">target 10,000</text>
</svg>
`
}
