#!/usr/bin/env bash
# Prints the lab's start-up figures (never asserted in tests: machines are noisy):
#   - a cold vcsim build (empty output folder and Go build cache)
#   - N lab starts after the build, with the per-part timings 'lab/lab up' records
#
#   bench/lab_start.sh [N]      (default N=3; run after 'make deps')
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-3}
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

TIMEFORMAT="vcsim build, cold: %R s wall, %U s user"
time GOCACHE="$scratch/go-cache" lab/vcsim/build.sh "$scratch/vcsim" >/dev/null

for run in $(seq "$runs"); do
    lab/lab run -- .venv/bin/python - "$run" <<'PY' 2>/dev/null | grep '^lab up'
import json, os, sys
timings = json.load(open(os.path.join(os.environ["VM_AUTOSCALE_LAB"], "lab.json")))["timings"]
parts = ", ".join(f"{k.removesuffix('_s')} {v:.2f}" for k, v in timings.items() if k != "total_s")
print(f"lab up #{sys.argv[1]}: {timings['total_s']:.2f} s ({parts})")
PY
done
