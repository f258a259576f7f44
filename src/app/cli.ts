/**
 * The command line's grammar: every command, its subcommands and the flags it takes, with the
 * usage text printed from the same table. `checkArgs` decides before anything runs: `--help` of a
 * command (exit 0), `--version`, or a mistake (an unknown command, subcommand or flag: exit 2
 * with the command's usage), so a typo never runs something else or is silently ignored.
 */

interface Command {
  readonly name: string
  /** Its subcommands; empty when it has none. */
  readonly subs: ReadonlyArray<string>
  /** The flags it takes (without `--`); `help` is always allowed. */
  readonly flags: ReadonlyArray<string>
  /** Its usage lines (synopsis, then what it does). */
  readonly usage: string
}

const command = (name: string, subs: ReadonlyArray<string>, flags: ReadonlyArray<string>, usage: string) => ({
  name,
  subs,
  flags,
  usage
})

export const COMMANDS: ReadonlyArray<Command> = [
  command(
    "start",
    [],
    [],
    `  start                                   run the service (Kafka when KAFKA_BROKERS is set,
                                          else embedded defaults with synthetic traffic)`
  ),
  command(
    "ingest",
    [],
    [],
    `  ingest                                  run the memory-ingestion worker (KAFKA_BROKERS): extract
                                          customer data and summaries from each turn (a model when
                                          TURNVAULT_LLM_BASE_URL is set, else each field's
                                          extraction_hints) and feed them back as events`
  ),
  command(
    "process",
    [],
    ["definitions", "requirements", "input", "export"],
    `  process --definitions F [--requirements F] --input F --export DIR
                                          run a file of events and export the stores`
  ),
  command(
    "definitions",
    ["import"],
    [],
    "  definitions import DEFS.json            upsert field definitions into the configured store"
  ),
  command(
    "requirements",
    ["import", "extract"],
    ["output", "apply"],
    `  requirements import REQS.json           upsert scenario field requirements
  requirements extract SCENARIO.json [--output FILE] [--apply]
                                          propose the fields a scenario's conditions need (a model
                                          when TURNVAULT_LLM_BASE_URL is set, else the rules), written
                                          for review; --apply imports those not needing review`
  ),
  command(
    "export",
    [],
    ["export"],
    "  export --export DIR                     export sessions, profile fields, turn records and ledgers"
  ),
  command(
    "verify",
    [],
    ["tenant", "session", "checkpoints", "public-key"],
    `  verify [--tenant T] [--session S] [--checkpoints [--public-key F]]
                                          recompute hash chains and content hashes; with
                                          --checkpoints also check every signed checkpoint (and,
                                          with KAFKA_BROKERS, the copies on the witness topic)`
  ),
  command(
    "checkpoints",
    ["write", "list", "keygen"],
    [],
    `  checkpoints write|list                  sign and publish an audit checkpoint now (start does it
                                          every TURNVAULT_CHECKPOINT_INTERVAL_MS), or list them
  checkpoints keygen                      print a new Ed25519 key pair for TURNVAULT_CHECKPOINT_KEY`
  ),
  command(
    "prove",
    [],
    ["tenant", "turn"],
    `  prove --tenant T --turn ID              print a turn record's inclusion proof in a signed
                                          checkpoint (JSON, schemas/json/turn-proof.schema.json)`
  ),
  command(
    "verify-proof",
    [],
    ["proof", "public-key"],
    `  verify-proof --proof F [--public-key F] check a proof with the public key alone (exit 1 if it
                                          does not hold)`
  ),
  command(
    "history",
    [],
    ["tenant", "session"],
    "  history --tenant T --session S          print a session's history ledger (a JSON line per entry)"
  ),
  command(
    "summary",
    [],
    ["tenant", "session"],
    "  summary --tenant T --session S          print a session's rolling summary (by `turnvault ingest`)"
  ),
  command(
    "migrate",
    ["up", "down", "status"],
    ["all"],
    "  migrate up|down [--all]|status          PostgreSQL schema migrations (DATABASE_URL)"
  ),
  command(
    "jobs",
    ["run"],
    [],
    `  jobs run expire|orphans                 run one background job now on the configured stores
                                          (expire stale fields, mark orphaned items); prints a
                                          JSON summary (start runs them on a schedule)`
  ),
  command(
    "topics",
    ["ensure"],
    [],
    "  topics ensure                           create or check the Kafka topics (KAFKA_BROKERS)"
  ),
  command(
    "quarantine",
    ["list", "show", "release", "drop"],
    ["tenant", "session", "values"],
    `  quarantine list [--tenant T]            sessions set aside, their events parked (DATABASE_URL)
  quarantine show --tenant T --session S [--values]
                                          a quarantined session's parked events
  quarantine release|drop --tenant T --session S
                                          replay its parked events in order, or send them to
                                          the DLQ (KAFKA_BROKERS: the partition's owner does it)`
  ),
  command(
    "items",
    ["chain", "derived", "history", "delete", "tombstones"],
    ["tenant", "item", "customer", "field", "by", "reason", "cascade", "values"],
    `  items chain|derived --tenant T --item ID [--values]
                                          what an item derives from, or what derives from it
  items history --tenant T --customer C --field NAME [--values]
                                          every stored row of one field, newest first
  items delete --tenant T --item ID --by WHO --reason WHY [--cascade]
                                          tombstone an item (refused while others derive from it)
  items tombstones --tenant T             who deleted what, when and why`
  ),
  command(
    "erase",
    [],
    ["tenant", "customer", "customers", "by", "reason"],
    `  erase --tenant T --customer C|--customers FILE --by WHO [--reason WHY]
                                          erase a customer: destroy its data keys (its sealed values
                                          never open again), tombstone its profile rows, append a
                                          chained receipt and publish it on turnvault.erasures;
                                          FILE: one customer id per line, erased in order`
  ),
  command(
    "keys",
    ["create", "list", "revoke"],
    ["tenant", "scope", "by", "key"],
    `  keys create --tenant T [--scope read|admin] [--by WHO]
                                          make a tenant API key; prints it once (DATABASE_URL)
  keys list --tenant T                    the tenant's keys, without secrets
  keys revoke --tenant T --key KEY_ID [--by WHO]
                                          revoke a key (create and revoke are in admin_actions)`
  ),
  command(
    "generate",
    [],
    ["lines", "output"],
    "  generate --lines N --output DIR         write a synthetic defs.json, reqs.json and events.jsonl"
  )
]

/** The flags any command may take, and whether each has a value. */
export const FLAG_TYPES: Readonly<Record<string, "string" | "boolean">> = {
  definitions: "string",
  requirements: "string",
  input: "string",
  export: "string",
  tenant: "string",
  session: "string",
  item: "string",
  key: "string",
  scope: "string",
  customer: "string",
  field: "string",
  by: "string",
  reason: "string",
  lines: "string",
  output: "string",
  turn: "string",
  customers: "string",
  proof: "string",
  "public-key": "string",
  checkpoints: "boolean",
  cascade: "boolean",
  apply: "boolean",
  all: "boolean",
  values: "boolean",
  help: "boolean",
  version: "boolean"
}

export const USAGE = `usage: turnvault <command> [--help]   (turnvault --version)\n${COMMANDS.map((c) => c.usage).join("\n")}`

const usageOf = (c: Command) => `usage:\n${c.usage}`

export type ArgsVerdict =
  | { readonly kind: "run" }
  | { readonly kind: "help"; readonly text: string }
  | { readonly kind: "version" }
  | { readonly kind: "mistake"; readonly message: string }

/**
 * What to do with the command line: its positionals and the names of the flags given (as typed,
 * without `--`).
 */
export const checkArgs = (positionals: ReadonlyArray<string>, flags: ReadonlyArray<string>): ArgsVerdict => {
  const [name, sub] = positionals
  if (name === undefined) {
    if (flags.includes("version")) return { kind: "version" }
    if (flags.includes("help")) return { kind: "help", text: USAGE }
    return { kind: "mistake", message: `turnvault: no command given\n${USAGE}` }
  }
  const found = COMMANDS.find((c) => c.name === name)
  if (found === undefined)
    return {
      kind: "mistake",
      message: `turnvault: unknown command '${name}'\n${USAGE}`
    }
  if (flags.includes("help")) return { kind: "help", text: usageOf(found) }
  const unknown = flags.filter((f) => !found.flags.includes(f))
  if (unknown.length > 0)
    return {
      kind: "mistake",
      message: `turnvault ${name}: unknown flag ${unknown.map((f) => `--${f}`).join(", ")}\n${usageOf(found)}`
    }
  if (found.subs.length > 0 && (sub === undefined || !found.subs.includes(sub)))
    return {
      kind: "mistake",
      message: `turnvault ${name}: ${sub === undefined ? "a subcommand is needed" : `unknown subcommand '${sub}'`} (${found.subs.join(", ")})\n${usageOf(found)}`
    }
  return { kind: "run" }
}
