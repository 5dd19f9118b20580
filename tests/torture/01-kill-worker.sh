#!/usr/bin/env bash
# Torture 1: the worker killed with SIGKILL at random moments while a
# workload runs, again and again (short: 5 kills; full: 100).  After each
# kill, the time until a checkpoint set at the kill completes (the monitor
# restarts the worker, which reconciles and catches up) -- the target is
# under 10 s.  Then the workload stops, and both trees must be the same.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

P=$T/p S=$T/s
KILLS=$(scale 5 100)
mkdir -p "$P"
"$FSSTRESS" "$P" --seed "$SEED" --ops 2000 >"$T/seed-tree.log" 2>&1
session_up "$( ((EUID == 0)) && echo fanotify || echo inotify)"
stress_start "$P" $((SEED + 1)) 300
for ((i = 1; i <= KILLS; i++)); do
	# A random moment: up to 1.5 s into the workload's changes.
	sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
	w=$(worker_pid)
	[[ -n $w ]] || { wait_for "d['state'] != 'Faulty'" "a worker" 30; w=$(worker_pid); }
	[[ -n $w ]] || fail "no worker to kill (kill $i)"
	t0=$(fault_time)
	kill -9 "$w"
	fault_converged "$t0" 120
	echo "  kill $i: converged in ${CONVERGE[-1]} s" >&2
done
final_verify
result faults="$KILLS kill -9 of the worker"
