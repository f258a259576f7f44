/** Small helpers for tests that run turnvault or another server as a child process. */
import { createServer } from "node:net"

/** A free loopback port (asked of the OS, then released). */
export const freePort = () =>
  new Promise<number>((done, fail) => {
    const server = createServer()
    server.once("error", fail)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => done(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

export const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))
