#!/usr/bin/env bash
# The stages of 'make test' inside the lab namespace; at the end a table of their times and the
# 10 slowest integration tests (tests/shards.py writes them).
#
# The integration tests (several labs at once, tests/shards.py) leave the 2 cores partly idle
# while they wait for alert windows, boots and lock expiries, so the short stages - lint, sanity,
# unit, one after the other - run beside them instead of before them: their output goes to
# .lab/stages/<stage>.log and is shown when they end (all of it for a stage that failed). Every
# stage runs to its end; the run fails if any stage failed, and the table says which.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
beside=(lint sanity unit)
stages=("${beside[@]}" integration)
# The ansible modules the tests run compile their zipped source once, not once per task
# (tests/bytecode_cache.py, installed by lab/setup.sh test).
export VM_AUTOSCALE_BYTECODE_CACHE="$PWD/.lab/bytecode"
logs=.lab/stages
mkdir -p "$logs"
rm -f .lab/shards/slowest.txt "$logs"/*.result
begin=$(date +%s)

# One stage: its output to its log, "<seconds> <exit code>" to its result file.
run_beside() {
    local stage=$1 start code
    start=$(date +%s)
    make --no-print-directory "$stage" >"$logs/$stage.log" 2>&1
    code=$?
    echo "$(($(date +%s) - start)) $code" >"$logs/$stage.result"
    echo "make test: $stage $([[ $code -eq 0 ]] && echo passed || echo "FAILED (exit $code)") after $(($(date +%s) - start)) s (log $logs/$stage.log)"
}
(
    for stage in "${beside[@]}"; do
        run_beside "$stage"
    done
) &
short=$!

start=$(date +%s)
make --no-print-directory integration
code=$?
echo "$(($(date +%s) - start)) $code" >"$logs/integration.result"
wait "$short"

declare -A took result
rc=0
for stage in "${stages[@]}"; do
    read -r seconds code <"$logs/$stage.result" || {
        seconds=- code=1
    }
    took[$stage]=$seconds
    result[$stage]=$([[ $code -eq 0 ]] && echo passed || echo "FAILED (exit $code)")
    ((code == 0)) || rc=$code
done
for stage in "${beside[@]}"; do
    echo
    if [[ ${result[$stage]} == passed ]]; then
        echo "make test: $stage (the end of $logs/$stage.log)"
        tail -n 5 "$logs/$stage.log"
    else
        echo "make test: $stage FAILED ($logs/$stage.log)"
        cat "$logs/$stage.log"
    fi
done
echo
echo "make test: the stages (lint, sanity and unit ran beside integration)"
printf '  %-12s %8s  %s\n' stage seconds result
for stage in "${stages[@]}"; do
    printf '  %-12s %8s  %s\n' "$stage" "${took[$stage]}" "${result[$stage]}"
done
printf '  %-12s %8s\n' total "$(($(date +%s) - begin))"
if [[ -s .lab/shards/slowest.txt ]]; then
    echo "the 10 slowest integration tests:"
    cat .lab/shards/slowest.txt
fi
exit "$rc"
