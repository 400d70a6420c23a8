#!/usr/bin/env bash
# Builds PocketBase, the real server of the PocketBase tests (internal/e2e/pocketbase,
# internal/testmod/pocketbase.go), into the cache, and skips that when the cached binary is
# the right one:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/syncgen/pocketbase/pocketbase
#
# Why built and not downloaded: the machines of this project reach only the Go module
# proxy, Debian's packages and npm, so PocketBase's release archives cannot be fetched; its
# Go module can. PocketBase 0.40 needs Go 1.27, newer than the project's Go, and the proxy
# serves that toolchain as go1.27.3: so the build runs with GOTOOLCHAIN=go1.27.3, in a main
# module of its own (.ci/pocketbase/, copied into the cache), and the project stays on the
# machine's Go. The main module is PocketBase's documented minimal one (pocketbase.New(),
# Start()); go.sum pins its dependencies, among them modernc.org/sqlite, PocketBase's pure
# Go SQLite driver, so the build needs no cgo (CGO_ENABLED=0) and no C compiler.
#
# A cold build takes about 3 minutes on 2 cores (166 s measured with empty Go caches, the
# toolchain's and the modules' downloads included; up to 4-5 minutes on a busy machine); a
# warm run only checks the binary (well under a second).
#
# Prints the binary's path on its last line; progress goes to stderr.
set -euo pipefail

version=v0.40.4 # the only 0.40 release the Go module proxy serves (go list -m -versions)
toolchain=go1.27.3

src="$(cd "$(dirname "$0")/pocketbase" && pwd)"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/syncgen/pocketbase"
bin="$dir/pocketbase"

# The stamp names what the binary was built from: the version, the toolchain and the main
# module's files. Another stamp, or a binary that does not say its version, is rebuilt.
stamp="$(printf '%s %s\n' "$version" "$toolchain"; cd "$src" && sha256sum go.mod go.sum main.go)"
if [ -x "$bin" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ] &&
  [ "$("$bin" --version 2>/dev/null)" = "pocketbase version ${version#v}" ]; then
  echo "pocketbase ${version}: cached at $bin" >&2
  echo "$bin"
  exit 0
fi

echo "pocketbase ${version}: building with ${toolchain} into $dir (about 3 minutes on 2 cores)" >&2
start=$SECONDS
mkdir -p "$dir/src"
rm -f "$dir/stamp"
cp "$src/go.mod" "$src/go.sum" "$src/main.go" "$dir/src/"
(
  cd "$dir/src"
  export GOTOOLCHAIN="$toolchain" GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
  go build -trimpath -ldflags "-s -w -X github.com/pocketbase/pocketbase.Version=${version#v}" \
    -o "$bin.tmp" .
)
mv -f "$bin.tmp" "$bin"
got="$("$bin" --version)"
if [ "$got" != "pocketbase version ${version#v}" ]; then
  echo "pocketbase: the built binary says '$got', not version ${version#v}" >&2
  exit 1
fi
printf '%s\n' "$stamp" >"$dir/stamp"
echo "pocketbase ${version}: built in $((SECONDS - start)) s at $bin" >&2
echo "$bin"
