/**
 * docker-compose.yml is checked, not only read: it is valid under the Compose Specification's
 * JSON Schema (test/fixtures/compose-spec, no compose tool or Docker engine runs here), and its
 * image versions and ports agree with what the tests run against and with the README.
 */
import Ajv from "ajv"
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { adminUrl, queryRows } from "../support/postgres"

const root = resolve(import.meta.dirname, "..", "..")
const read = (path: string) => readFileSync(resolve(root, path), "utf8")

interface Service {
  readonly image?: string
  readonly ports?: ReadonlyArray<string>
  readonly environment?: Readonly<Record<string, string>>
}
const compose = parse(read("docker-compose.yml")) as { services: Record<string, Service> }
const services = compose.services
const tag = (service: string) => services[service]?.image?.split(":")[1] ?? ""
const major = (version: string) => version.replace(/^v/, "").split(".")[0]
/** The first dotted version in a program's --version output. */
const versionOf = (program: string) =>
  /\d+\.\d+(\.\d+)?/.exec(execFileSync(program, ["--version"], { encoding: "utf8" }))?.[0] ?? ""

describe("docker-compose.yml", () => {
  it("is valid under the Compose Specification's schema", () => {
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false })
    // draft-07, named without the "#" ajv files it under
    const { $schema: _, ...schema } = JSON.parse(read("test/fixtures/compose-spec/compose-spec.json"))
    const validate = ajv.compile(schema)
    expect(validate(compose), JSON.stringify(validate.errors, null, 1)).toBe(true)
    // the schema itself refuses what compose refuses (a positive control)
    expect(
      validate({ services: { bad: { image: "x", ports: [{ published: "not-a-port" }], restart: 1 } } })
    ).toBe(false)
  })

  it("runs the versions the tests run against", async () => {
    expect(tag("kafka")).toBe(read("scripts/kafka/VERSION").trim())
    const [pg] = await queryRows<{ server_version: string }>(adminUrl, "SHOW server_version")
    expect(tag("postgres")).toBe(major(pg!.server_version))
    expect(major(tag("redis"))).toBe(major(versionOf("redis-server")))
    // the scraper the Prometheus test drives (scripts/ci/prometheus.sh)
    expect(tag("prometheus").replace(/^v/, "")).toBe(versionOf("prometheus"))
  })

  it("publishes the ports the README gives, and turnvault listens where Prometheus scrapes", () => {
    const readme = read("README.md")
    const section = readme.slice(
      readme.indexOf("## Running the whole stack"),
      readme.indexOf("## Performance")
    )
    const published = Object.values(services).flatMap((s) => (s.ports ?? []).map((p) => p.split(":")[0]))
    expect(published.length).toBeGreaterThan(0)
    for (const port of published) expect(section, `port ${port}`).toContain(`localhost:${port}`)
    const listed = [...section.matchAll(/localhost:(\d+)/g)].map((m) => m[1])
    expect([...new Set(listed)].sort()).toEqual([...new Set(published)].sort())
    const http = services.turnvault?.environment?.TURNVAULT_HTTP_PORT
    expect(services.turnvault?.ports).toContain(`${http}:${http}`)
    expect(read("deploy/prometheus/prometheus.yml")).toContain(`turnvault:${http}`)
    for (const [name, version] of [
      ["Kafka", tag("kafka")],
      ["PostgreSQL", tag("postgres")],
      ["Redis", tag("redis")]
    ])
      expect(section).toContain(`${name} ${version}`)
  })
})
