/**
 * Signed checkpoints (decision 0018): what they catch that the chains alone cannot (a consistent
 * rewrite, a cut tail, a deleted session or checkpoint), and turn proofs a third party checks with
 * the public key alone.
 */
import { describe, expect, it } from "vitest"
import type { TurnRecord } from "../../schemas"
import {
  buildCheckpoint,
  buildProof,
  type ChainHead,
  checkCheckpoints,
  type Head,
  isReceiptsHead,
  newHeads,
  newKeyPair,
  proofProblems,
  publicKeyOf,
  signerOf,
  type StoredChains,
  type StoredCheckpoint
} from "../../src/domain/checkpoint"
import type { SessionHistoryEntry } from "../../src/domain/model"
import { nextReceipt, receiptProblems } from "../../src/domain/erasure"
import { ledgerEntryHash } from "../../src/domain/session"
import { recordHash } from "../../src/domain/turnRecord"
import { historyEntry, turnRecord } from "../contract/fixtures"

const keys = newKeyPair()
const signer = signerOf(keys.private_key)
const publicKey = publicKeyOf(keys.public_key_pem)
const AT = "2026-12-07T10:00:00.000Z"

/** A session's chains, hashed the way the pipeline hashes them; `salt` makes a rewritten copy. */
const chains = (session: string, n: number, salt = ""): StoredChains => {
  const records: Array<TurnRecord> = []
  const entries: Array<SessionHistoryEntry> = []
  for (let i = 1; i <= n; i++) {
    const body = turnRecord("t1", session, i, {
      prev_hash: records.at(-1)?.hash ?? null,
      canonical_intent: `intent ${i}${salt}`
    })
    records.push({ ...body, hash: recordHash(body) })
    const entry = historyEntry("t1", session, i, { reason: `turn${salt}` })
    entries.push({ ...entry, entry_hash: ledgerEntryHash(entry, entries.at(-1)?.entry_hash ?? null) })
  }
  return { records, entries }
}

const headOf = (session: string, c: StoredChains): ChainHead => ({
  tenant_id: "t1",
  session_id: session,
  records: c.records.length,
  record_head: c.records.at(-1)?.hash ?? null,
  entries: c.entries.length,
  entry_head: c.entries.at(-1)?.entry_hash ?? null
})

const sessions = () => new Map([...["a", "b", "c"].map((s) => [s, chains(s, 4)] as const)])

const checkpointOf = (store: Map<string, StoredChains>, previous: StoredCheckpoint | null = null) =>
  buildCheckpoint(
    {
      previous,
      since: null,
      cut: AT,
      createdAt: AT,
      heads: [...store].map(([s, c]) => headOf(s, c))
    },
    signer
  )

const check = (
  stored: ReadonlyArray<StoredCheckpoint>,
  store: Map<string, StoredChains>,
  witnessed: ReadonlyArray<StoredCheckpoint> | null = null
) =>
  checkCheckpoints({
    stored,
    witnessed: witnessed?.map(({ body, signature }) => ({ body, signature })) ?? null,
    publicKey,
    chainsOf: (_tenant, session) => store.get(session) ?? { records: [], entries: [] }
  })

describe("signed checkpoints", () => {
  it("the chains a checkpoint saw verify against it", () => {
    const store = sessions()
    const cp = checkpointOf(store)
    expect(check([cp], store)).toEqual({ problems: [], unwitnessed: [] })
    // the chains grow after the checkpoint: what it saw is still a prefix
    store.set("a", chains("a", 6))
    expect(check([cp], store).problems).toEqual([])
  })

  it("a consistent rewrite (every hash recomputed) is caught at the head the checkpoint saw", () => {
    const store = sessions()
    const cp = checkpointOf(store)
    store.set("b", chains("b", 4, " rewritten"))
    const { problems } = check([cp], store)
    expect(problems.map((p) => p.session_id)).toEqual(["b", "b"])
    expect(problems[0]!.problem).toContain("rewritten")
  })

  it("a cut tail, a deleted session and an inserted ledger entry are caught", () => {
    const store = sessions()
    const cp = checkpointOf(store)
    const a = store.get("a")!
    store.set("a", { records: a.records.slice(0, 3), entries: a.entries })
    store.delete("b")
    const c = store.get("c")!
    store.set("c", {
      records: c.records,
      entries: [c.entries[0]!, { ...c.entries[0]!, seq: 2 }, ...c.entries.slice(1)]
    })
    const problems = check([cp], store).problems
    expect(problems.filter((p) => p.session_id === "a")[0]!.problem).toContain("deleted")
    expect(problems.filter((p) => p.session_id === "b")).toHaveLength(2)
    expect(problems.filter((p) => p.session_id === "c")).toHaveLength(1)
  })

  it("a deleted, forged or re-linked checkpoint is caught; so are edited heads", () => {
    const store = sessions()
    const first = checkpointOf(store)
    const second = checkpointOf(store, first)
    const third = checkpointOf(store, second)
    expect(check([first, third], store).problems.map((p) => p.seq)).toEqual([3, 3])
    const forged = { ...second, body: { ...second.body, leaves: 2 } }
    expect(
      check([first, forged, third], store)
        .problems.map((p) => p.problem)
        .join("\n")
    ).toMatch(/signature does not verify[\s\S]*do not build the signed root[\s\S]*prev does not name/)
    const editedHeads = { ...second, heads: second.heads.slice(1) }
    expect(check([first, editedHeads], store).problems[0]!.problem).toContain("do not build the signed root")
    const otherKey = { ...second, signature: signerOf(newKeyPair().private_key).sign(second.body) }
    expect(check([first, otherKey], store).problems[0]!.problem).toContain("signature does not verify")
  })

  it("the witness shows checkpoints deleted from the store, and those not yet published", () => {
    const store = sessions()
    const first = checkpointOf(store)
    const second = checkpointOf(store, first)
    // the newest checkpoint deleted from the store: the sequence alone looks whole
    expect(check([first], store).problems).toEqual([])
    expect(check([first], store, [first, second]).problems).toEqual([
      { seq: 2, problem: "checkpoint 2 was published but is not in the store: it was deleted" }
    ])
    expect(check([first, second], store, [first])).toEqual({ problems: [], unwitnessed: [2] })
  })

  it("a new checkpoint covers only heads that moved since the previous one", () => {
    const store = sessions()
    const first = checkpointOf(store)
    const moved = chains("a", 5)
    const read = [headOf("a", moved), headOf("b", store.get("b")!), headOf("d", chains("d", 1))]
    const names = (heads: ReadonlyArray<Head>) =>
      heads.map((h) => (isReceiptsHead(h) ? h.kind : h.session_id))
    expect(names(newHeads(read, first))).toEqual(["a", "d"])
    expect(names(newHeads(read, null))).toEqual(["a", "b", "d"])
  })

  it("a tenant's erasure receipts are a leaf too: a deleted or rewritten receipt is caught", () => {
    const request = (customer: string) => ({
      tenant_id: "t1",
      customer_id: customer,
      erased_at: AT,
      erased_by: "dpo",
      reason: "request"
    })
    const first = nextReceipt(null, request("c1"), [1])
    const second = nextReceipt(first, request("c2"), [1])
    const receipts = [first, second]
    const head = { kind: "erasures" as const, tenant_id: "t1", receipts: 2, receipt_head: second.hash }
    const cp = buildCheckpoint({ previous: null, since: null, cut: AT, createdAt: AT, heads: [head] }, signer)
    const checkWith = (held: ReadonlyArray<ReturnType<typeof nextReceipt>>) =>
      checkCheckpoints({
        stored: [cp],
        witnessed: null,
        publicKey,
        chainsOf: () => null,
        receiptsOf: () => held
      }).problems.map((p) => p.problem)
    expect(checkWith(receipts)).toEqual([])
    expect(checkWith([first])[0]).toContain("receipts were deleted")
    // recomputed, the forged receipt chains well: only the checkpoint knows it is not the one it saw
    const forged = nextReceipt(first, { ...request("c2"), erased_by: "mallory" }, [1])
    expect(receiptProblems([first, forged])).toEqual([])
    expect(checkWith([first, forged])[0]).toContain("rewritten")
    // and the receipts head sorts after every session head
    const mixed = buildCheckpoint(
      { previous: null, since: null, cut: AT, createdAt: AT, heads: [head, headOf("z", chains("z", 1))] },
      signer
    )
    expect(mixed.heads.map((h) => isReceiptsHead(h))).toEqual([false, true])
  })
})

describe("turn proofs", () => {
  const store = sessions()
  const cp = checkpointOf(store)
  const chain = store.get("b")!.records

  it("prove a record of a checkpointed chain; the proof holds with the public key alone", () => {
    for (const record of chain) {
      const proof = buildProof(record, chain, [cp])!
      expect(proof.records[0]).toEqual(record)
      expect(proofProblems(JSON.parse(JSON.stringify(proof)), publicKey)).toEqual([])
    }
  })

  it("an edited record, a dropped link, another key or another head fails", () => {
    const proof = buildProof(chain[1]!, chain, [cp])!
    const edited = {
      ...proof,
      records: [{ ...proof.records[0]!, turn_number: 99 }, ...proof.records.slice(1)]
    }
    expect(proofProblems(edited, publicKey)[0]).toContain("does not hash")
    const dropped = { ...proof, records: [proof.records[0]!, ...proof.records.slice(2)] }
    expect(proofProblems(dropped, publicKey)[0]).toContain("does not chain")
    expect(proofProblems(proof, publicKeyOf(newKeyPair().public_key))[0]).toContain("signature")
    const otherHead = { ...proof, head: { ...proof.head, records: 3 } }
    expect(proofProblems(otherHead, publicKey)).toEqual([
      "the head is not leaf 1 of checkpoint 1's Merkle root"
    ])
  })

  it("a record no checkpoint covers, or whose chain was rewritten since, has no proof", () => {
    const longer = chains("b", 6).records
    expect(buildProof(longer[5]!, longer, [cp])).toBeNull()
    const rewritten = chains("b", 4, " rewritten").records
    expect(buildProof(rewritten[0]!, rewritten, [cp])).toBeNull()
  })
})
