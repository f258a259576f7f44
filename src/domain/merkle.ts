/**
 * The Merkle tree of RFC 6962 (Certificate Transparency, section 2.1), over leaf data given as
 * bytes: leaf hash SHA-256(0x00 || data), node hash SHA-256(0x01 || left || right), a tree of n
 * leaves split at the largest power of two below n. Inclusion proofs are its audit paths, checked
 * by the algorithm of RFC 9162 section 2.1.3.2. Hashes are lowercase hex.
 */
import { createHash } from "node:crypto"

const LEAF = Buffer.from([0])
const NODE = Buffer.from([1])

export const leafHash = (data: string | Buffer): string =>
  createHash("sha256").update(LEAF).update(data).digest("hex")

const nodeHash = (left: string, right: string): string =>
  createHash("sha256")
    .update(NODE)
    .update(Buffer.from(left, "hex"))
    .update(Buffer.from(right, "hex"))
    .digest("hex")

/** The largest power of two strictly below n (n ≥ 2). */
const split = (n: number) => {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** The tree hash over these leaf hashes (in order); the empty tree's is SHA-256 of nothing. */
export const merkleRoot = (leaves: ReadonlyArray<string>): string => {
  const hashRange = (from: number, to: number): string => {
    if (to - from === 1) return leaves[from]!
    const k = split(to - from)
    return nodeHash(hashRange(from, from + k), hashRange(from + k, to))
  }
  return leaves.length === 0 ? createHash("sha256").digest("hex") : hashRange(0, leaves.length)
}

/** The audit path of leaf `index`: the sibling hashes from the leaf up to the root. */
export const inclusionPath = (leaves: ReadonlyArray<string>, index: number): Array<string> => {
  if (index < 0 || index >= leaves.length) throw new RangeError(`leaf ${index} of ${leaves.length}`)
  const path: Array<string> = []
  const walk = (m: number, from: number, to: number) => {
    if (to - from === 1) return
    const k = split(to - from)
    if (m < k) {
      walk(m, from, from + k)
      path.push(merkleRoot(leaves.slice(from + k, to)))
    } else {
      walk(m - k, from + k, to)
      path.push(merkleRoot(leaves.slice(from, from + k)))
    }
  }
  walk(index, 0, leaves.length)
  return path
}

/** Whether `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`. */
export const verifyInclusion = (
  leaf: string,
  index: number,
  size: number,
  path: ReadonlyArray<string>,
  root: string
): boolean => {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false
  let fn = index
  let sn = size - 1
  let r = leaf
  for (const p of path) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      if (fn % 2 === 0)
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
    } else r = nodeHash(r, p)
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && r === root
}
