#!/usr/bin/env bash
# Torture 3: a crash at each named point of a turn, through the test-only
# fault hook (src/common/testhook.h), while changes are applied:
#   entry    the secondary applied the turn's entry operations, the index
#            not committed
#   data     ... and its data
#   commit   after the secondary's acknowledgement, before the primary's
#            commit
#   content  in the middle of a file's content (part of it written)
#   reply:N  at a random reply of a turn
#   journal  the monitor, in the middle of writing a journal record (the
#            segment's tail torn): the session is down until started
# Each fires once (its flag file); the time from the crash to a completed
# checkpoint is measured.  Short: each point once; full: five times each.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

P=$T/p S=$T/s
ROUNDS=$(scale 1 5)
mkdir -p "$P"
"$FSSTRESS" "$P" --seed "$SEED" --ops 1500 >"$T/seed-tree.log" 2>&1
session_up inotify
flag=$T/crash-flag
n=0
for ((r = 1; r <= ROUNDS; r++)); do
	for point in entry data commit content "reply:$((1 + RANDOM % 40))" journal; do
		n=$((n + 1))
		expect_rc 0 G stop "$sess"
		touch "$flag"
		GEOREP_TEST_CRASH=$point GEOREP_TEST_CRASH_FLAG=$flag \
			expect_rc 0 G start "$sess"
		mon=$(started_pid)
		# Changes for the point to fire in: a large file (content), and
		# the workload's mix.
		head -c $((3 << 20)) /dev/urandom >"$P/big-$n"
		"$FSSTRESS" "$P" --seed $((SEED + n)) --ops 400 \
		    >"$T/burst-$n.log" 2>&1 || fail "fsstress burst $n failed"
		OPS=$((OPS + 400))
		until_true "the crash at $point" 60 test ! -e "$flag"
		t0=$(fault_time)
		grep -q "GEOREP_TEST_CRASH=$point: killing myself" \
		    "$T/home/sessions/$sess/log" ||
			fail "no crash at $point in the session log"
		if [[ $point == journal ]]; then
			until_true "the monitor gone (journal crash)" 30 pid_gone "$mon"
			until_true "the session down (journal crash)" 30 session_down
			expect_rc 0 G start "$sess"
		fi
		fault_converged "$t0" 180
		echo "  crash at $point: converged in ${CONVERGE[-1]} s" >&2
	done
done
# The torn journal tail was found and covered by a crawl.
grep -q "ends in a torn record" "$T/home/sessions/$sess/log" ||
	check_failed "the torn journal tail was not reported in the log"
final_verify
result faults="$n crashes at named points (entry, data, commit, content, reply:N, journal)"
