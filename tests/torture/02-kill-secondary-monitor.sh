#!/usr/bin/env bash
# Torture 2: SIGKILL of the secondary process (short: 3; full: 20), then of
# the monitor (short: 2; full: 10), at random moments of a running
# workload.  A killed secondary: the worker sees the link gone, the monitor
# restarts it, it reconnects.  A killed monitor: the session is down (its
# worker and secondary end with it); `georep start` brings it back, and
# that start's crawl finds what was missed.  After each fault, the time
# until a checkpoint set at the fault completes.  Then both trees verified.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

P=$T/p S=$T/s
SKILLS=$(scale 3 20) MKILLS=$(scale 2 10)
mkdir -p "$P"
"$FSSTRESS" "$P" --seed "$SEED" --ops 2000 >"$T/seed-tree.log" 2>&1
session_up inotify
stress_start "$P" $((SEED + 1)) 300
for ((i = 1; i <= SKILLS; i++)); do
	sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
	until_true "a secondary process (kill $i)" 30 bash -c "[[ -n \$(pgrep -P \$(pgrep -P $(monitor_pid) -x georep | head -1) -x georep) ]]"
	sp=$(secondary_pid)
	[[ -n $sp ]] || fail "no secondary to kill (kill $i)"
	t0=$(fault_time)
	kill -9 "$sp"
	fault_converged "$t0" 120
	echo "  secondary kill $i: converged in ${CONVERGE[-1]} s" >&2
done
for ((i = 1; i <= MKILLS; i++)); do
	sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
	mon=$(monitor_pid)
	t0=$(fault_time)
	kill -9 "$mon"
	until_true "the monitor gone (kill $i)" 30 pid_gone "$mon"
	until_true "the session down (monitor kill $i)" 60 session_down
	expect_rc 0 G start "$sess"
	fault_converged "$t0" 180
	echo "  monitor kill $i: converged in ${CONVERGE[-1]} s" >&2
done
final_verify
result faults="$SKILLS kill -9 of the secondary, $MKILLS of the monitor"
