#!/usr/bin/env bash
# make torture: every case of the torture suite at full scale (100 kills of
# the worker, 20 link cuts, ...), then the table of their figures.
#
#   tests/torture/run.sh [PATTERN...]     (GEOREP, FSSTRESS: as make sets)
#
# TORTURE_SCALE=short runs the short versions (those make check runs).
# The figures of each case (faults, operations, differences found by
# verify, time to converge after each fault: median and maximum) go to
# tests/torture/results/STAMP.tsv and are printed at the end; they are
# what docs/RELIABILITY.md quotes.
set -u
cd "$(dirname "$0")/../.." || exit 2
export TORTURE_SCALE=${TORTURE_SCALE:-full}
mkdir -p tests/torture/results
export TORTURE_RESULTS=$PWD/tests/torture/results/$(date +%Y%m%d-%H%M%S)-$TORTURE_SCALE.txt
: >"$TORTURE_RESULTS"
pats=("$@")
((${#pats[@]})) || pats=(torture-)
E2E_TIMEOUT=${E2E_TIMEOUT:-3600} tests/run.sh --e2e "${pats[@]}"
rc=$?
echo
echo "torture figures ($TORTURE_SCALE; $TORTURE_RESULTS):"
sed 's/^/  /' "$TORTURE_RESULTS"
exit $rc
