#!/usr/bin/env bash
# Puts the Node.js version pinned in .node-version (the current LTS line) first on PATH, for
# .ci/run to `source`. The machine's own node is used when it is that version; otherwise the
# official binary is fetched once from the npm registry (package node-linux-<arch>, no install
# script) into .cache/node-<version>. npm itself is the machine's, run by that node.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="$(tr -d '[:space:]' < "$root/.node-version")"

if [ "$(node --version 2>/dev/null || true)" != "v$version" ]; then
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "no Node.js $version binary package for $(uname -m)" >&2; exit 1 ;;
  esac
  dir="$root/.cache/node-$version"
  if [ ! -x "$dir/bin/node" ]; then
    echo "== fetching Node.js $version (node-linux-$arch from the npm registry)"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
    mkdir -p "$dir"
    tar xzf "$tmp"/node-linux-"$arch"-*.tgz --strip-components=1 -C "$dir"
    rm -rf "$tmp"
  fi
  export PATH="$dir/bin:$PATH"
fi
echo "== node $(node --version) at $(command -v node)"
