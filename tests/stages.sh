#!/usr/bin/env bash
# The stages of 'make test', one after the other inside the lab namespace; at the end a table of
# their times and the 10 slowest integration tests (tests/shards.py writes them). The first stage
# that fails ends the run (the table says which).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
stages=(lint sanity unit integration)
declare -A took result
begin=$(date +%s)
rc=0
rm -f .lab/shards/slowest.txt
for stage in "${stages[@]}"; do
    start=$(date +%s)
    make --no-print-directory "$stage"
    code=$?
    took[$stage]=$(($(date +%s) - start))
    result[$stage]=$([[ $code -eq 0 ]] && echo passed || echo "FAILED (exit $code)")
    if [[ $code -ne 0 ]]; then
        rc=$code
        break
    fi
done
echo
echo "make test: the stages"
printf '  %-12s %8s  %s\n' stage seconds result
for stage in "${stages[@]}"; do
    printf '  %-12s %8s  %s\n' "$stage" "${took[$stage]:--}" "${result[$stage]:-not run}"
done
printf '  %-12s %8s\n' total "$(($(date +%s) - begin))"
if [[ -s .lab/shards/slowest.txt ]]; then
    echo "the 10 slowest integration tests:"
    cat .lab/shards/slowest.txt
fi
exit $rc
