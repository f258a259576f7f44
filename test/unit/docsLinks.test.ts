/**
 * The project documents itself: every relative link or image in a tracked Markdown file points at
 * something inside the repository. External links (http, https, mailto) and same-page anchors are
 * not checked; links inside fenced code blocks and inline code spans are not links.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { dirname, isAbsolute, join, relative, resolve } from "node:path"
import { describe, expect, it } from "vitest"

const root = resolve(import.meta.dirname, "..", "..")

/** Tracked Markdown files, relative to the repository root (generated bench results excluded). */
const trackedMarkdown = (): ReadonlyArray<string> =>
  execFileSync("git", ["ls-files", "-z", "--", "*.md"], { cwd: root, encoding: "utf8" })
    .split("\0")
    .filter((file) => file.length > 0 && !file.startsWith("bench/results/"))

const FENCE = /^ {0,3}(`{3,}|~{3,})/

/** The text outside fenced code blocks, with inline code spans blanked out; line numbers are kept. */
const proseOf = (markdown: string): string => {
  const out: Array<string> = []
  let fence: string | null = null
  for (const line of markdown.split("\n")) {
    const opening = FENCE.exec(line)?.[1]
    if (fence === null) {
      if (opening !== undefined) {
        fence = opening
        out.push("")
      } else out.push(line.replace(/(`+)[^`]*?\1/g, (span) => " ".repeat(span.length)))
      continue
    }
    // A fence closes with the same character, at least as long, and nothing after it.
    const closing = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(line)?.[1]
    if (closing !== undefined && closing[0] === fence[0] && closing.length >= fence.length) fence = null
    out.push("")
  }
  return out.join("\n")
}

// [text](target) and ![alt](target): text may hold one level of brackets (an image inside a
// link); target is <anything> or a run without spaces (one level of parentheses allowed),
// optionally followed by a "title", 'title' or (title).
const LINK =
  /!?\[((?:[^[\]]|\[[^[\]]*\])*)\]\(\s*(<[^>\n]*>|[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)(?:\s+(?:"[^"\n]*"|'[^'\n]*'|\([^)\n]*\)))?\s*\)/g

interface Link {
  readonly line: number
  readonly target: string
}

/** Every inline link and image target of the prose, as written (angle brackets removed). */
const linksOf = (markdown: string): ReadonlyArray<Link> => {
  const links: Array<Link> = []
  const prose = proseOf(markdown)
  const scan = (text: string, offset: number) => {
    for (const match of text.matchAll(LINK)) {
      const start = offset + match.index
      const inner = match[1]!
      // An image inside the link text: [![alt](img)](href)
      scan(inner, start + match[0].indexOf(inner))
      const raw = match[2]!
      const target = raw.startsWith("<") ? raw.slice(1, -1) : raw
      links.push({ line: prose.slice(0, start).split("\n").length, target })
    }
  }
  scan(prose, 0)
  return links.sort((a, b) => a.line - b.line)
}

const EXTERNAL = /^(https?|mailto):/i

/**
 * Why a link of `file` (relative to the root) does not resolve, or undefined when it does or is
 * not checked. Fragments are dropped; a leading `/` is the repository root, as on GitHub.
 */
const problemOf = (file: string, target: string, repoRoot = root): string | undefined => {
  if (EXTERNAL.test(target) || target.startsWith("#")) return undefined
  const path = target.split("#")[0]!.split("?")[0]!
  if (path === "") return "empty link"
  let decoded: string
  try {
    decoded = decodeURIComponent(path)
  } catch {
    return "not a valid URL path"
  }
  const resolved = decoded.startsWith("/")
    ? join(repoRoot, decoded)
    : resolve(repoRoot, dirname(file), decoded)
  const inside = relative(repoRoot, resolved)
  if (inside.startsWith("..") || isAbsolute(inside)) return "points outside the repository"
  return existsSync(resolved) ? undefined : "does not exist"
}

describe("Markdown links", () => {
  it("finds the tracked Markdown files", () => {
    const files = trackedMarkdown()
    expect(files).toContain("README.md")
    expect(files.some((file) => file.startsWith("bench/results/"))).toBe(false)
  })

  it("every relative link and image of a tracked Markdown file resolves inside the repository", () => {
    const broken: Array<string> = []
    for (const file of trackedMarkdown()) {
      const path = join(root, file)
      // Deleted in the working tree but not yet from the index: nothing to check.
      if (!existsSync(path)) continue
      for (const link of linksOf(readFileSync(path, "utf8"))) {
        const problem = problemOf(file, link.target)
        if (problem !== undefined) broken.push(`${file}:${link.line}: (${link.target}) ${problem}`)
      }
    }
    expect(broken).toEqual([])
  })

  it("extracts links and images, and skips code blocks and code spans (the scan can fail)", () => {
    const markdown = [
      "See [the design](docs/DESIGN.md#3-domain-rules) and ![a chart](img/chart.png 'Chart').",
      '[![badge](badge.svg)](<docs/with space.md> "title")',
      "`[not a link](inline-code.md)` and [angle](<a.md>)",
      "```ts",
      "const x = '[not a link](fenced.md)'",
      "````",
      "~~~",
      "```",
      "[still code](tilde.md)",
      "~~~",
      "[external](https://example.com) [mail](mailto:a@b.c) [anchor](#top) [up](../shared/DESIGN.md)"
    ].join("\n")
    expect(linksOf(markdown)).toEqual([
      { line: 1, target: "docs/DESIGN.md#3-domain-rules" },
      { line: 1, target: "img/chart.png" },
      { line: 2, target: "badge.svg" },
      { line: 2, target: "docs/with space.md" },
      { line: 3, target: "a.md" },
      { line: 11, target: "https://example.com" },
      { line: 11, target: "mailto:a@b.c" },
      { line: 11, target: "#top" },
      { line: 11, target: "../shared/DESIGN.md" }
    ])
  })

  it("judges targets: external and anchors skipped, missing and outside-the-repo targets fail", () => {
    expect(problemOf("README.md", "https://effect.website")).toBeUndefined()
    expect(problemOf("README.md", "mailto:ops@example.com")).toBeUndefined()
    expect(problemOf("README.md", "#configuration")).toBeUndefined()
    expect(problemOf("README.md", "docs/decisions/")).toBeUndefined()
    expect(problemOf("docs/TOPICS.md", "../README.md#quick-start")).toBeUndefined()
    expect(problemOf("docs/TOPICS.md", "/README.md")).toBeUndefined()
    expect(problemOf("README.md", "docs/NO-SUCH-FILE.md")).toBe("does not exist")
    expect(problemOf("README.md", "../shared/DESIGN.md")).toBe("points outside the repository")
    expect(problemOf("docs/TOPICS.md", "../../README.md")).toBe("points outside the repository")
  })
})
