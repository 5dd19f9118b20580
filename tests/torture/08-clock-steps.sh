#!/usr/bin/env bash
# Torture 8: the realtime clock stepped back and forward while a session
# replicates under a workload (root: clock_settime; short: one step each
# way, 20 s back and 20 s forward; full: five of each, up to 120 s).  A
# sync point is a realtime: after a step back, changes carry times the sync
# point may have passed, so it must go back with the clock (the log says
# so) or a checkpoint would complete before they are on the secondary.
# After each step, a checkpoint set then must complete only once the
# changes are there, and the trees converge.  The clock is put back to
# where it would be without the steps (the monotonic time elapsed) at the
# end, even on failure.  Waits here never use the realtime clock.
# run.sh: alone -- the clock is the whole machine's: a scenario beside
# this one would see its sync points and times jump.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root

STEPS=$(scale 1 5)
# The realtime clock, moved by SECONDS (negative: back).
clock_step() {
	"$PY" - "$1" <<-'PYEOF'
		import sys, time
		time.clock_settime(time.CLOCK_REALTIME,
		    time.clock_gettime(time.CLOCK_REALTIME) + float(sys.argv[1]))
	PYEOF
}
"$PY" -c 'import time; time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_REALTIME))' 2>"$T/err" ||
	skip "the clock cannot be set here: $(cat "$T/err")"
# Where the clock must be at the end: now plus the monotonic time elapsed.
read -r REAL0 MONO0 < <("$PY" -c 'import time; print(time.clock_gettime(time.CLOCK_REALTIME), time.clock_gettime(time.CLOCK_MONOTONIC))')
restore_clock() {
	"$PY" - "$REAL0" "$MONO0" <<-'PYEOF'
		import sys, time
		real0, mono0 = float(sys.argv[1]), float(sys.argv[2])
		time.clock_settime(time.CLOCK_REALTIME,
		    real0 + time.clock_gettime(time.CLOCK_MONOTONIC) - mono0)
	PYEOF
}
at_exit restore_clock
# until_true and wait_for must not count in realtime here.
until_true() {
	local what=$1 limit=$2 t0
	shift 2
	t0=$(fault_time)
	until "$@"; do
		(($(fault_time) - t0 < limit * 1000)) || fail "not within ${limit}s: $what"
		sleep 0.02
	done
}

P=$T/p S=$T/s
# The workload in a directory of its own: it renames and exchanges what it
# finds, and the changes made after each step (after-step/) must stay put.
mkdir -p "$P/w"
"$FSSTRESS" "$P/w" --seed "$SEED" --ops 1500 >"$T/seed-tree.log" 2>&1
session_up inotify
stress_start "$P/w" $((SEED + 1)) 200
logf=$T/home/sessions/$sess/log
n=0
for ((i = 1; i <= STEPS; i++)); do
	for dir in back forward; do
		n=$((n + 1))
		secs=$(( i == 1 ? 20 : 20 + RANDOM % 100 ))
		sleep "0.$((RANDOM % 10))"
		off=$(stat -c %s "$logf")
		t0=$(fault_time)
		clock_step "$([[ $dir == back ]] && echo "-$secs" || echo "$secs")"
		echo "  clock stepped $dir by $secs s" >&2
		# Changes after the step, then a checkpoint: complete only once
		# they are on the secondary.
		mkdir -p "$P/after-step"
		echo "after step $n" >"$P/after-step/f$n"
		fault_converged "$t0" 120
		[[ -f $S/after-step/f$n ]] ||
			check_failed "checkpoint completed before a change after the step ($dir) was on the secondary"
		echo "  step $dir $secs s: converged in ${CONVERGE[-1]} s" >&2
		if [[ $dir == back ]]; then
			tail -c +$((off + 1)) "$logf" |
				awk '/the clock went back by/ { f = 1 } END { exit !f }' ||
				check_failed "the step back was not seen (no 'the clock went back' in the log)"
		fi
	done
done
restore_clock
# What changed while the clock was ahead carries times ahead of it now:
# the session's verify leaves those unjudged for a while; the verify of
# the pair below judges every object.
FUTURE_CTIMES=1
final_verify
result faults="$STEPS steps back and $STEPS forward of the realtime clock"
