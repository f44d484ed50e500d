#!/usr/bin/env bash
# Run ansible-test sanity on this checkout. ansible-test must run from a path that ends in
# ansible_collections/<namespace>/<name>: copy the files git knows (tracked, and new files
# not ignored) into such a tree under .lab/build and run it there. Extra arguments are passed on.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tree="$repo/.lab/build/sanity/ansible_collections/danacloud/vm_autoscale"
# Keep tests/output: it holds ansible-test's delegation virtualenv, made once with PyPI
# reachable ('make deps') and reused inside the isolated lab namespace.
mkdir -p "$tree"
find "$tree" -mindepth 1 -maxdepth 1 ! -name tests -exec rm -rf {} +
find "$tree/tests" -mindepth 1 -maxdepth 1 ! -name output -exec rm -rf {} + 2>/dev/null || true
cd "$repo"
# .collections holds a link back to the repository root: not part of the collection.
git ls-files -z --cached --others --exclude-standard | grep -zv '^\.collections/' \
    | xargs -0 -I{} sh -c 'test -e "{}" && echo "{}"' | tar -cf - -T - | tar -xf - -C "$tree"
cd "$tree"
# ansible-test lists a collection's files through git; without a repository it sees none.
rm -rf .git && git init -q && git add -A
exec "$repo/.venv/bin/ansible-test" sanity --venv --python 3.11 --color no "$@"
