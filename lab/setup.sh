#!/usr/bin/env bash
# Install what the demo or the tests need, idempotently (a second run takes seconds):
#   lab/setup.sh demo   what 'make demo' needs: the lab's Debian packages, .venv from
#                       requirements-lab.txt, the lab's vcsim
#   lab/setup.sh test   (the default) all of that, plus the test tooling: Debian's shellcheck
#                       and groovy, .venv from requirements-dev.txt, ansible-test's offline pip
#                       bootstrap and its sanity virtualenvs (needs PyPI: outside the lab)
# Debian packages are installed with apt-get as root, only the missing ones; the virtualenv is
# re-installed only when its requirement files change; vcsim is rebuilt only when its inputs do.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
mode=${1:-test}
case "$mode" in
    demo | test) ;;
    *)
        echo "usage: lab/setup.sh [demo|test]" >&2
        exit 2
        ;;
esac

DEB_PACKAGES=(
    prometheus prometheus-alertmanager prometheus-node-exporter  # the PLG host (promtool, amtool too)
    golang-go golang-github-vmware-govmomi-dev patch             # vcsim, built from Debian's source
    iputils-ping iproute2 util-linux                             # probes, lab addresses, unshare/nsenter
    python3-venv git openssl make ca-certificates
)
if [[ $mode == test ]]; then
    DEB_PACKAGES+=(
        shellcheck # ansible-test sanity
        groovy     # the Jenkinsfile compiles in the tests
    )
fi

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: missing Debian packages: ${missing[*]}" >&2
        echo "setup: install them as root (apt-get install ${missing[*]}) or run this as root" >&2
        exit 1
    fi
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "setup: $python is not Python 3.11 (ansible 12 / ansible-core 2.19 is pinned for it)" >&2
    exit 1
fi
if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv"
    "$python" -m venv .venv
fi
# The test set includes the lab's: a .venv made for the tests serves the demo as it is.
requirements="requirements-dev.txt"
[[ $mode == demo ]] && requirements="requirements-lab.txt"
want_for() { cat requirements.txt requirements-lab.txt ${1:+"$1"} | sha256sum | cut -d' ' -f1; }
installed="$(cat .venv/.requirements.sha256 2>/dev/null || true)"
if [[ $installed != "$(want_for requirements-dev.txt)" && ($mode == test || $installed != "$(want_for)") ]]; then
    echo "setup: installing Python requirements ($requirements) into .venv"
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
    if [[ $mode == test ]]; then want_for requirements-dev.txt; else want_for; fi > .venv/.requirements.sha256
fi

if [[ $mode == demo ]]; then
    lab/vcsim/build.sh
    exit 0
fi

# The tests' caches for ansible's module payloads - their bytecode (tests/bytecode_cache.py) and
# the imports found in their source (tests/module_deps_cache.py) - and for the code Jinja compiles
# templates to (tests/template_cache.py): active only where
# VM_AUTOSCALE_BYTECODE_CACHE is set (tests/stages.sh sets it).
site_packages="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
for cache in bytecode_cache module_deps_cache template_cache; do
    cmp -s "tests/$cache.py" "$site_packages/vm_autoscale_$cache.py" ||
        cp "tests/$cache.py" "$site_packages/vm_autoscale_$cache.py"
done
echo 'import os; d = os.environ.get("VM_AUTOSCALE_BYTECODE_CACHE"); d and __import__("vm_autoscale_bytecode_cache").install(d)' \
    > "$site_packages/vm_autoscale_bytecode_cache.pth"

# ansible-test: the pip bootstrap it cannot download here, and its sanity virtualenvs, which
# need PyPI and therefore must be made before the tests enter the isolated lab namespace.
pip_version="$(.venv/bin/python - <<'PY'
import re, pathlib, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"pip='([0-9.]+)'", src.read_text()).group(1))
PY
)"
mkdir -p ~/.ansible/test/cache
cp tests/sanity/get_pip_offline.py ~/.ansible/test/cache/get_pip_"${pip_version//./_}".py
sanity_stamp=.lab/build/sanity-venvs.sha256
sanity_want="$(.venv/bin/ansible-test --version)"
if [[ "$(cat "$sanity_stamp" 2>/dev/null)" != "$sanity_want" ]]; then
    echo "setup: preparing ansible-test sanity virtualenvs (first time: a few minutes)"
    tests/sanity/run.sh --prime-venvs >/dev/null
    mkdir -p .lab/build && echo "$sanity_want" > "$sanity_stamp"
fi

lab/vcsim/build.sh
