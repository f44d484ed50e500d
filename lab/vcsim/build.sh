#!/usr/bin/env bash
# Build the lab's vcsim from Debian's govmomi source (golang-github-vmware-govmomi-dev)
# with our main.go and our fix for the Fetch panic (fetch-unset-property.patch).
#
#   lab/vcsim/build.sh [OUTPUT_DIR]     (default: <repo>/.lab/build/vcsim)
#
# The Debian tree is copied to a scratch GOPATH and patched there; /usr/share/gocode
# is never modified and nothing of govmomi is committed. The build is skipped when
# its inputs (our sources, the Debian package version, the Go version) are unchanged.
# Builds into one output folder are serialized (flock), so that the labs of make test,
# which share the build, never race: the first builds, the others find it up to date.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$repo/.lab/build/vcsim}"
gocode=/usr/share/gocode/src

for cmd in go patch dpkg-query sha256sum flock; do
    command -v "$cmd" >/dev/null || { echo "build-vcsim: '$cmd' not found; run 'make deps' first" >&2; exit 1; }
done
[[ -d $gocode/github.com/vmware/govmomi/simulator ]] || {
    echo "build-vcsim: $gocode/github.com/vmware/govmomi missing; install golang-github-vmware-govmomi-dev" >&2
    exit 1
}

mkdir -p "$out"
exec 9>"$out/.build.lock"
flock 9

# The contents of the inputs, not their paths: a copy of the checkout (a shard of make test)
# with the same sources finds the same build up to date.
inputs_hash="$(
    {
        cat "$here/main.go" "$here/fetch-unset-property.patch" "$here/build.sh" | sha256sum
        dpkg-query -W -f='${Package} ${Version}\n' golang-github-vmware-govmomi-dev golang-github-google-uuid-dev 2>/dev/null || true
        go version
    } | sha256sum | cut -d' ' -f1
)"
if [[ -x $out/vcsim && -f $out/inputs.sha256 && "$(cat "$out/inputs.sha256")" == "$inputs_hash" ]]; then
    echo "build-vcsim: up to date ($out/vcsim)"
    exit 0
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
start=$(date +%s)
mkdir -p "$scratch/src/github.com/vmware" "$scratch/src/github.com/google" "$scratch/src/vmautoscale-vcsim"
cp -a "$gocode/github.com/vmware/govmomi" "$scratch/src/github.com/vmware/"
cp -a "$gocode/github.com/google/uuid" "$scratch/src/github.com/google/"
patch --quiet --forward -p1 -d "$scratch/src/github.com/vmware/govmomi" < "$here/fetch-unset-property.patch"
cp "$here/main.go" "$scratch/src/vmautoscale-vcsim/main.go"

(
    cd "$scratch/src/vmautoscale-vcsim"
    GO111MODULE=off GOPATH="$scratch" GOCACHE="${GOCACHE:-$repo/.lab/build/go-cache}" \
        go build -trimpath -o "$out/vcsim.new.$$" .
) || { rm -f "$out/vcsim.new.$$"; echo "build-vcsim: go build failed" >&2; exit 1; }
mv -f "$out/vcsim.new.$$" "$out/vcsim"
echo "$inputs_hash" > "$out/inputs.sha256"
echo "build-vcsim: built $out/vcsim in $(( $(date +%s) - start ))s"
