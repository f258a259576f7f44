/**
 * The inspector page (`/ui`) in a real headless Chromium, over the admin API on real PostgreSQL
 * with two tenants: with one tenant's key it lists that tenant's sessions a page at a time, shows
 * a session's turns in order with their outcome, customer-data updates and phase decisions, and a
 * customer's vault with its history and lineage; the other tenant's data never appears, a wrong key
 * shows the API's refusal, and a screenshot proves the page really renders the data.
 *
 * Chromium is Debian's (`bash scripts/ci/chromium.sh`, or CHROMIUM=<path>): the suite fails, not
 * skips, without it, since CI installs it.
 */
import { existsSync } from "node:fs"
import { writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Layer, Scope } from "effect"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { PgStoresWithReaderLive } from "../../src/adapters/postgres"
import { ApiKeys } from "../../src/ports/ApiKeys"
import { AuditStore } from "../../src/ports/AuditStore"
import { ProfileStore } from "../../src/ports/ProfileStore"
import { SessionStore } from "../../src/ports/SessionStore"
import { profileField, sessionRecord, sessionState, turnRecord } from "../contract/fixtures"
import { recordingItemChanges, serveAdminApi } from "../support/adminApi"
import { freshDatabase } from "../support/postgres"

const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium"
const at = "2024-05-01T10:00:00Z"

/** More sessions than the page's page size (20), named to sort before the one the test opens. */
const fillers = Array.from({ length: 20 }, (_, i) => `s-filler-${String(i + 1).padStart(2, "0")}`)

/** acme's session s-main: three turns, each with an outcome, updates and phase decisions. */
const acmeTurns = [
  turnRecord("acme", "s-main", 1, {
    canonical_intent: "sign_up",
    outcome: { resolution: "RESOLVED", categories: [] },
    customer_data_updates: [
      { field_name: "email", status: "persisted", scope: "IDENTITY", is_update: false }
    ],
    matched_rule_ids: ["greet"],
    matched_rules: [{ rule_id: "greet", score: 0.91 }],
    scenario: {
      active_scenario_id: "onboarding",
      current_step_id: "ask-email",
      awaiting_user_input: true,
      lifecycle_decisions: { onboarding: "START" }
    },
    tool_executions: [{ tool_id: "crm.lookup", success: true, duration_ms: 12 }],
    enforcement: { blocked: false, regeneration_attempts: 0 }
  }),
  turnRecord("acme", "s-main", 2, {
    outcome: {
      resolution: "PARTIAL",
      categories: [{ category: "AWAITING_USER_INPUT", scenario_id: "onboarding", step_id: "ask-phone" }]
    },
    customer_data_updates: [
      { field_name: "email", status: "persisted", scope: "IDENTITY", is_update: true },
      { field_name: "phone", status: "rejected", validation_error: "not a phone number" }
    ],
    scenario: {
      active_scenario_id: "onboarding",
      current_step_id: "ask-phone",
      awaiting_user_input: true,
      step_transitions: { onboarding: { from_step: "ask-email", to_step: "ask-phone" } }
    },
    tool_executions: [],
    enforcement: null
  }),
  turnRecord("acme", "s-main", 3, {
    outcome: {
      resolution: "UNRESOLVED",
      categories: [{ category: "SYSTEM_ERROR", details: "crm.update failed" }]
    },
    customer_data_updates: [],
    tool_failures: 1,
    tool_executions: [{ tool_id: "crm.update", success: false, error: "timeout" }],
    policy_violations: ["pii-leak"],
    enforcement: { blocked: true, regeneration_attempts: 2 }
  })
]

/** acme's customer cust-1: an email changed once, and a field derived from its current value. */
const emailBefore = profileField({ tenant: "acme", name: "email", value: "a@acme.example", at, turn: "t1" })
const emailNow = profileField({
  tenant: "acme",
  name: "email",
  value: "b@acme.example",
  at: "2024-05-01T10:02:00Z",
  turn: "t2"
})
const emailDomain = profileField({
  tenant: "acme",
  name: "email_domain",
  value: "acme.example",
  at: "2024-05-01T10:02:00Z",
  turn: "t2-derived",
  derivedFrom: emailNow.id
})

/** The other tenant: the same customer id and look-alike data, all marked "globex". */
const globex = {
  fields: [
    profileField({ tenant: "globex", name: "email", value: "x@globex.example", at, turn: "t1" }),
    profileField({
      tenant: "globex",
      customer: "cust-globex",
      name: "plan",
      value: "globex-pro",
      at,
      turn: "t1"
    })
  ],
  turns: [turnRecord("globex", "s-globex", 1, { canonical_intent: "globex_intent" })],
  sessions: [sessionRecord(sessionState("globex", "s-globex"))]
}

/** A fresh database with both tenants' data, the API on a free port, and an acme key. */
const serve = Effect.gen(function* () {
  const db = yield* Effect.acquireRelease(
    Effect.promise(() => freshDatabase()),
    (d) => Effect.promise(() => d.drop())
  )
  const stores = yield* Layer.build(PgStoresWithReaderLive({ connectionString: db.url, max: 4 }))
  const key = yield* Effect.gen(function* () {
    const profiles = yield* ProfileStore
    // one batch each, in order: the second email supersedes the first
    yield* profiles.writeFields([emailBefore, ...globex.fields])
    yield* profiles.writeFields([emailNow, emailDomain])
    yield* (yield* AuditStore).append([...acmeTurns, ...globex.turns], [])
    yield* (yield* SessionStore).save([
      sessionRecord(
        sessionState("acme", "s-main", {
          turn_count: 3,
          last_turn_number: 3,
          lifecycle: {
            active_scenario_id: "onboarding",
            current_step_id: "ask-phone",
            canonical_intent: null
          }
        })
      ),
      ...fillers.map((id) => sessionRecord(sessionState("acme", id, { customer_id: "cust-filler" }))),
      ...globex.sessions
    ])
    const created = yield* (yield* ApiKeys).create("acme", "read", "test", new Date(at))
    return created.token
  }).pipe(Effect.provide(stores))
  const port = yield* serveAdminApi(
    stores,
    { rateLimit: { perSecond: 200, burst: 400 }, authCacheMs: 30_000 },
    recordingItemChanges(() => {})
  )
  return { base: `http://127.0.0.1:${port}`, key }
})

/** The few browser APIs the pixel count uses (the tests type-check against Node, not the DOM). */
interface PixelApis {
  createImageBitmap(blob: Blob): Promise<{ readonly width: number; readonly height: number }>
  OffscreenCanvas: new (
    width: number,
    height: number
  ) => {
    getContext(kind: "2d"): {
      drawImage(image: unknown, x: number, y: number): void
      getImageData(x: number, y: number, w: number, h: number): { readonly data: Uint8ClampedArray }
    }
  }
}

/**
 * The share of a PNG's pixels that are "ink" (clearly darker than the page's near-white
 * background), decoded by the browser itself on a blank page, so no image library is needed.
 */
const inkShare = (blank: Page, png: Buffer) =>
  blank.evaluate(async (base64) => {
    const apis = globalThis as unknown as PixelApis
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
    const bitmap = await apis.createImageBitmap(new Blob([bytes], { type: "image/png" }))
    const context = new apis.OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d")
    context.drawImage(bitmap, 0, 0)
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height)
    let ink = 0
    for (let i = 0; i < data.length; i += 4) if (Math.min(data[i]!, data[i + 1]!, data[i + 2]!) < 200) ink++
    return ink / (bitmap.width * bitmap.height)
  }, png.toString("base64"))

/** What the test reads and does of the page's window (the tests type-check against Node, not the DOM). */
interface BrowserWindow {
  readonly sessionStorage: {
    readonly length: number
    key(n: number): string | null
    getItem(key: string): string | null
  }
  readonly localStorage: { readonly length: number }
  readonly location: { readonly href: string }
  scrollTo(x: number, y: number): void
}

let scope: Scope.CloseableScope
let api: { readonly base: string; readonly key: string }
let browser: Browser

beforeAll(async () => {
  if (!existsSync(executablePath)) {
    throw new Error(
      `Chromium not found at ${executablePath}: install it with "bash scripts/ci/chromium.sh" or set CHROMIUM=<path>`
    )
  }
  scope = Effect.runSync(Scope.make())
  api = await Effect.runPromise(Scope.extend(serve, scope))
  browser = await chromium.launch({ executablePath, args: ["--headless", "--no-sandbox", "--disable-gpu"] })
}, 120_000)

afterAll(async () => {
  await browser?.close()
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
})

describe("the inspector page", () => {
  it("is served without a key, only its own files, with a strict policy; the API stays as it was", async () => {
    const page = await fetch(`${api.base}/ui`)
    expect(page.status).toBe(200)
    expect(page.url).toBe(`${api.base}/ui/`)
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8")
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'")
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self';")
    expect(page.headers.get("cache-control")).toBe("no-cache")
    expect(await page.text()).toContain('<script type="module" src="inspector.js">')

    expect((await fetch(`${api.base}/ui/inspector.js`)).headers.get("content-type")).toBe(
      "text/javascript; charset=utf-8"
    )
    expect((await fetch(`${api.base}/ui/inspector.css`)).headers.get("content-type")).toBe(
      "text/css; charset=utf-8"
    )
    for (const other of [
      "/ui/package.json",
      "/ui/..%2Fpackage.json",
      "/ui/%2e%2e%2fpackage.json",
      "/ui/constructor"
    ]) {
      expect((await fetch(`${api.base}${other}`)).status, other).toBe(404)
    }

    expect((await fetch(`${api.base}/openapi.json`)).status).toBe(200)
    expect((await fetch(`${api.base}/v1/sessions`)).status).toBe(401)
    const sessions = await fetch(`${api.base}/v1/sessions`, {
      headers: { authorization: `Bearer ${api.key}` }
    })
    expect(sessions.status).toBe(200)
  })

  it("shows a tenant's sessions, turns, vault, history and lineage, and nothing of another tenant", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const page = await context.newPage()
    const pageErrors: Array<string> = []
    page.on("pageerror", (error) => pageErrors.push(error.message))
    page.on("console", (message) => {
      // a script or style the policy blocks shows only as a console message
      if (message.text().includes("Content Security Policy")) pageErrors.push(message.text())
    })
    try {
      await page.goto(`${api.base}/ui`)
      await page.locator("#intro").waitFor()
      const empty = await page.screenshot()

      // a wrong key: the API's refusal, in words
      await page.fill("#key", "tvk_not-a-real-key")
      await page.click("#key-form button[type=submit]")
      await expect.poll(() => page.locator("#error").textContent()).toContain("401")
      expect(await page.locator("#error").textContent()).toContain("The key is unknown, revoked or mistyped")
      expect(await page.locator("#session-list li").count()).toBe(0)

      // the right key: a first page of sessions, then the next one
      await page.fill("#key", api.key)
      await page.click("#key-form button[type=submit]")
      await page.locator("#session-list li").nth(19).waitFor()
      expect(await page.locator("#error").isHidden()).toBe(true)
      expect(await page.locator("#session-list li").count()).toBe(20)
      expect(await page.locator('#session-list [data-session="s-main"]').count()).toBe(0)
      await page.click("#more-sessions")
      await page.locator('#session-list [data-session="s-main"]').waitFor()
      expect(await page.locator("#session-list li").count()).toBe(21)
      expect(await page.locator("#more-sessions").isHidden()).toBe(true)

      // the key is kept for the tab only, never in the URL or localStorage
      const storage = await page.evaluate(() => {
        const window = globalThis as unknown as BrowserWindow
        const session = Array.from({ length: window.sessionStorage.length }, (_, n) =>
          window.sessionStorage.getItem(window.sessionStorage.key(n)!)
        )
        return { session, local: window.localStorage.length, url: window.location.href }
      })
      expect(storage.session).toEqual([api.key])
      expect(storage.local).toBe(0)
      expect(storage.url).not.toContain(api.key)

      // a session's turns, in order, with outcome, updates and phase decisions
      await page.click('#session-list [data-session="s-main"] button')
      await page.locator("#turns li.turn").nth(2).waitFor()
      expect(await page.locator("#session-title").textContent()).toBe("Session s-main")
      expect(
        await page
          .locator("#turns li.turn")
          .evaluateAll((turns) => turns.map((t) => t.getAttribute("data-turn")))
      ).toEqual(["1", "2", "3"])
      const turn = (n: number) => page.locator(`#turns li.turn[data-turn="${n}"]`).innerText()
      const first = await turn(1)
      expect(first).toContain("Turn 1 · 2024-05-01 08:01:00 UTC · RESOLVED")
      expect(first).toMatch(/email\s+persisted\s+IDENTITY\s+new/)
      expect(first).toContain("greet (score 0.91)")
      expect(first).toContain("onboarding / step ask-email · awaiting user input")
      expect(first).toContain("onboarding: START")
      expect(first).toContain("crm.lookup: ok · 12 ms")
      expect(first).toContain("not blocked · 0 regeneration attempts · no violations")
      const second = await turn(2)
      expect(second).toContain("PARTIAL")
      expect(second).toContain("AWAITING_USER_INPUT (onboarding / ask-phone)")
      expect(second).toMatch(/email\s+persisted\s+IDENTITY\s+changed/)
      expect(second).toMatch(/phone\s+rejected\s+not a phone number/)
      expect(second).toContain("onboarding: ask-email → ask-phone")
      const third = await turn(3)
      expect(third).toContain("UNRESOLVED")
      expect(third).toContain("SYSTEM_ERROR: crm.update failed")
      expect(third).toContain("crm.update: failed (timeout)")
      expect(third).toContain("blocked · 2 regeneration attempts · violations: pii-leak")
      await page.evaluate(() => (globalThis as unknown as BrowserWindow).scrollTo(0, 0))
      const loaded = await page.screenshot()

      // the session's customer: the active value above its history, and the lineage both ways
      await page.click("#open-customer")
      await page.locator('#vault [data-field="email_domain"]').waitFor()
      const emailRows = page.locator('#vault [data-field="email"] tbody tr')
      expect(await emailRows.count()).toBe(2)
      expect(await emailRows.nth(0).innerText()).toMatch(/b@acme\.example\s+active/)
      expect(await emailRows.nth(1).innerText()).toMatch(/a@acme\.example\s+superseded/)
      expect(await page.locator('#vault [data-field="email_domain"] tbody tr').innerText()).toMatch(
        /acme\.example\s+active/
      )

      await page.click(`#vault tr[data-item="${emailDomain.id}"] button`)
      await page.locator("#lineage ol.chain li").first().waitFor()
      expect(await page.locator("#lineage h3").textContent()).toContain("email_domain = acme.example")
      expect(await page.locator("#lineage ol.chain li").allInnerTexts()).toEqual([
        expect.stringContaining(`email = b@acme.example (active) · ${emailNow.id}`)
      ])
      await page.click(`#lineage ol.chain li[data-item="${emailNow.id}"] button`)
      await page.locator("#lineage ul.derived li").first().waitFor()
      expect(await page.locator("#lineage h3").textContent()).toContain("email = b@acme.example")
      expect(await page.locator("#lineage ul.derived li").allInnerTexts()).toEqual([
        expect.stringContaining(`email_domain = acme.example (active) · ${emailDomain.id}`)
      ])

      // another tenant's customer id, typed: not found for this key
      await page.fill("#customer-id", "cust-globex")
      await page.click("#customer-form button[type=submit]")
      await expect.poll(() => page.locator("#error").textContent()).toContain("404")
      expect(await page.locator("#vault").textContent()).toBe("")

      const text = await page.locator("body").innerText()
      expect(text.toLowerCase()).not.toContain("globex.example")
      expect(text).not.toContain("s-globex")
      expect(text).not.toContain("globex_intent")
      expect(text).not.toContain("globex-pro")
      expect(pageErrors).toEqual([])

      // the screenshot shows the data: it differs from the empty page and holds far more ink
      const shots = join(tmpdir(), `turnvault-inspector-${process.pid}`)
      await writeFile(`${shots}-empty.png`, empty)
      await writeFile(`${shots}-loaded.png`, loaded)
      expect(loaded.equals(empty), `screenshots in ${shots}-*.png`).toBe(false)
      // opened only now: a second tab in front would have throttled the inspector's rendering
      const blank = await context.newPage()
      const [emptyInk, loadedInk] = [await inkShare(blank, empty), await inkShare(blank, loaded)]
      expect(loadedInk, `ink ${emptyInk} -> ${loadedInk}; screenshots in ${shots}-*.png`).toBeGreaterThan(
        Math.max(0.02, emptyInk * 3)
      )
    } finally {
      await context.close()
    }
  })
})
