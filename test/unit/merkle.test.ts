/** The RFC 6962 Merkle tree: Certificate Transparency's published roots, and audit paths that verify. */
import { describe, expect, it } from "vitest"
import { inclusionPath, leafHash, merkleRoot, verifyInclusion } from "../../src/domain/merkle"

/** The leaves of RFC 6962's test tree (certificate-transparency's merkle_tree_test). */
const CT_LEAVES = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f"
].map((hex) => leafHash(Buffer.from(hex, "hex")))

/** Its roots over the first 1..8 leaves. */
const CT_ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
]

const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(`leaf ${i}`))

describe("merkle tree", () => {
  it("builds the roots RFC 6962's reference implementation publishes", () => {
    for (const [i, root] of CT_ROOTS.entries()) expect(merkleRoot(CT_LEAVES.slice(0, i + 1))).toBe(root)
  })

  it("the empty tree's root is SHA-256 of nothing", () => {
    expect(merkleRoot([])).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  })

  it("every leaf's audit path verifies, for every tree size up to 40", () => {
    for (let n = 1; n <= 40; n++) {
      const tree = leaves(n)
      const root = merkleRoot(tree)
      for (let i = 0; i < n; i++)
        expect(verifyInclusion(tree[i]!, i, n, inclusionPath(tree, i), root), `leaf ${i} of ${n}`).toBe(true)
    }
  })

  it("a path does not verify for another leaf, index, size, root or an edited path", () => {
    const tree = leaves(13)
    const root = merkleRoot(tree)
    const path = inclusionPath(tree, 5)
    expect(verifyInclusion(tree[5]!, 5, 13, path, root)).toBe(true)
    expect(verifyInclusion(tree[6]!, 5, 13, path, root)).toBe(false)
    expect(verifyInclusion(tree[5]!, 4, 13, path, root)).toBe(false)
    // the size decides which side each sibling is on (a tree of 6 ends at leaf 5)
    expect(verifyInclusion(tree[5]!, 5, 6, path, root)).toBe(false)
    expect(verifyInclusion(tree[5]!, 5, 13, path, merkleRoot(tree.slice(0, 12)))).toBe(false)
    expect(verifyInclusion(tree[5]!, 5, 13, [...path.slice(0, -1), tree[0]!], root)).toBe(false)
    expect(verifyInclusion(tree[5]!, 5, 13, path.slice(0, -1), root)).toBe(false)
    expect(verifyInclusion(tree[5]!, 13, 13, path, root)).toBe(false)
  })
})
