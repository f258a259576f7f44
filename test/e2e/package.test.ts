/**
 * The package as a user installs it: `npm pack` of the built output (`npm test`'s pretest builds
 * the CLI bundle and the library entry points; the pack skips its prepack, which would rewrite
 * the bundle under the other tests' feet), then a scratch consumer project installs the tarball and, with the strict
 * `nodenext` settings of a current Node project:
 * - type-checks the README's producer example and a use of `turnvault/schemas` (our declaration
 *   files included: `skipLibCheck` is off);
 * - fails to type-check an event with a wrong field type, so the types are real, not `any`;
 * - imports both entry points at run time and checks an event with them.
 * The install reads the npm cache `npm ci` filled (`--prefer-offline`).
 */
import { execFile } from "node:child_process"
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { promisify } from "node:util"
import { afterAll, describe, expect, it } from "vitest"

const run = promisify(execFile)
const repo = path.resolve(__dirname, "..", "..")
const tsc = path.join(repo, "node_modules", "typescript", "bin", "tsc")

/** The fenced block after the README's `producer-example` marker. */
const readmeExample = async () => {
  const readme = await readFile(path.join(repo, "README.md"), "utf8")
  const match = /<!-- producer-example[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(readme)
  if (match === null) throw new Error("README.md has no producer-example block")
  return match[1]!
}

const schemasUse = `
import { Schema } from "effect"
import { TurnRecord, TurnEvent, type MemoryIngestionTask } from "turnvault/schemas"

export const decodeRecord = Schema.decodeUnknownSync(TurnRecord)
export const isEvent = Schema.is(TurnEvent)
export const sessionOf = (task: MemoryIngestionTask): string => task.session_id
`

const wrongType = `
import { turnCompleted } from "turnvault/producer"
turnCompleted({ tenant_id: "t", agent_id: "a", session_id: "s", customer_id: "c", turn_id: "x", turn_number: "1", user_message: "", agent_response: "" })
`

const atRunTime = `
import { checkTurnEvent, turnCompleted } from "turnvault/producer"
import { TurnEvent } from "turnvault/schemas"
import { Either, Schema } from "effect"
const event = turnCompleted({ tenant_id: "t", agent_id: "a", session_id: "s", customer_id: "c", turn_id: "x", turn_number: 1, user_message: "", agent_response: "" })
const good = checkTurnEvent(event)
const bad = checkTurnEvent({ ...event, turn_number: 0 })
console.log(JSON.stringify({ good: Either.isRight(good), bad: Either.isLeft(bad) ? bad.left.reason : null, is: Schema.is(TurnEvent)(event) }))
`

const tsconfig = (files: ReadonlyArray<string>) =>
  JSON.stringify({
    compilerOptions: {
      target: "ES2022",
      module: "nodenext",
      moduleResolution: "nodenext",
      strict: true,
      exactOptionalPropertyTypes: true,
      noEmit: true,
      skipLibCheck: false,
      types: ["node"],
      typeRoots: [path.join(repo, "node_modules", "@types")]
    },
    files
  })

describe("npm pack: the package a consumer installs", () => {
  const dirs: Array<string> = []
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it("type-checks and imports turnvault/producer and turnvault/schemas from a scratch project", async () => {
    const work = await mkdtemp(path.join(tmpdir(), "turnvault-pack-"))
    dirs.push(work)
    const packed = await run("npm", ["pack", "--silent", "--ignore-scripts", "--pack-destination", work], {
      cwd: repo,
      maxBuffer: 16 * 1024 * 1024
    })
    const tarball = path.join(work, packed.stdout.trim().split("\n").at(-1)!)

    const app = path.join(work, "app")
    await mkdir(app)
    await writeFile(
      path.join(app, "package.json"),
      JSON.stringify({
        name: "consumer",
        private: true,
        type: "module",
        dependencies: { turnvault: `file:${tarball}` }
      })
    )
    await run(
      "npm",
      ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", "--omit=dev"],
      {
        cwd: app,
        maxBuffer: 16 * 1024 * 1024
      }
    )

    await writeFile(path.join(app, "example.ts"), await readmeExample())
    await writeFile(path.join(app, "schemas-use.ts"), schemasUse)
    await writeFile(path.join(app, "wrong.ts"), wrongType)
    await writeFile(path.join(app, "tsconfig.json"), tsconfig(["example.ts", "schemas-use.ts"]))
    await writeFile(path.join(app, "tsconfig.wrong.json"), tsconfig(["wrong.ts"]))

    const checked = await run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: app }).catch(
      (error: { stdout?: string }) => ({ stdout: `FAILED\n${error.stdout ?? String(error)}` })
    )
    expect(checked.stdout).toBe("")

    const wrong = await run(process.execPath, [tsc, "-p", "tsconfig.wrong.json"], { cwd: app }).then(
      () => "compiled",
      (error: { stdout?: string }) => error.stdout ?? ""
    )
    expect(wrong).toMatch(
      /^wrong\.ts\(3,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/m
    )

    await writeFile(path.join(app, "run.mjs"), atRunTime)
    const ran = await run(process.execPath, ["run.mjs"], { cwd: app })
    expect(JSON.parse(ran.stdout)).toEqual({ good: true, bad: "schema_violation", is: true })
  }, 300_000)
})
