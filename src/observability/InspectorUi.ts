/**
 * The inspector page (`/ui`): static files from the repository's `ui/` folder, served beside the
 * admin API so the page calls it on the same origin. The files are public (no key is needed to
 * load them); the page asks for the tenant's key and sends it on every `/v1` call itself.
 */
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { installPath } from "../config/installRoot"

/** Found from the install, not the working directory: `start` may run from anywhere. */
const folder = installPath("ui")

/**
 * The only files served, with their types. A fixed list rather than a directory lookup: a
 * request names a key of this map or gets 404, so no path can climb out of the folder.
 */
const files = new Map([
  ["index.html", "text/html; charset=utf-8"],
  ["inspector.js", "text/javascript; charset=utf-8"],
  ["api.js", "text/javascript; charset=utf-8"],
  ["dom.js", "text/javascript; charset=utf-8"],
  ["turns.js", "text/javascript; charset=utf-8"],
  ["vault.js", "text/javascript; charset=utf-8"],
  ["inspector.css", "text/css; charset=utf-8"]
])

/**
 * The page renders tenant data: it may load only its own script, style and the API (no inline
 * script, no other origin), may not be framed, and files are revalidated so an upgrade shows at once.
 */
const headers = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "cache-control": "no-cache",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer"
}

const notFound = HttpServerResponse.text("not found", { status: 404, headers })

const serve = (name: string) => {
  const contentType = files.get(name)
  if (contentType === undefined) return Effect.succeed(notFound)
  return Effect.tryPromise(() => readFile(join(folder, name))).pipe(
    Effect.map((body) => HttpServerResponse.uint8Array(body, { contentType, headers })),
    // An install without the folder (an image that left it out) still serves the API.
    Effect.orElseSucceed(() => notFound)
  )
}

/**
 * `/ui` (redirected to `/ui/`, so the page's relative links resolve), `/ui/` (the page) and its
 * files. The router treats `/ui` and `/ui/` as one route, so the handler tells them apart.
 */
export const inspectorRoutes = <E, R>(router: HttpRouter.HttpRouter<E, R>) =>
  router.pipe(
    HttpRouter.get(
      "/ui",
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        request.url.split("?")[0]!.endsWith("/")
          ? serve("index.html")
          : // relative, so the redirect also works behind a proxy that serves us under a prefix
            Effect.succeed(HttpServerResponse.redirect("ui/", { status: 302, headers }))
      )
    ),
    HttpRouter.get(
      "/ui/:file",
      Effect.flatMap(HttpRouter.params, (params) => serve(params.file ?? ""))
    )
  )
