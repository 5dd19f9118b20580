#!/usr/bin/env bash
# Torture 5: the secondary's filesystem full (a small tmpfs, most of it
# taken by a filler file beside the replica) while a workload writes more
# than fits: the failures show in status with ENOSPC and the path, nothing
# partial is left under a real name, the sync point does not pass what
# failed, and once the filler is removed the session completes by itself
# (failed paths are retried at least every 30 s).  Short: once; full:
# three rounds.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root

ROUNDS=$(scale 1 3)
mkdir "$T/small"
mount -t tmpfs -o size=48m,mode=755 tmpfs "$T/small" 2>"$T/err" ||
	skip "cannot mount a tmpfs: $(cat "$T/err")"
at_exit "umount -l '$T/small'"
P=$T/p S=$T/small/s
mkdir -p "$P"
"$FSSTRESS" "$P" --seed "$SEED" --ops 500 --max-size 65536 >"$T/seed-tree.log" 2>&1
session_up inotify
for ((r = 1; r <= ROUNDS; r++)); do
	free_kb=$(df -k --output=avail "$T/small" | tail -1)
	head -c $(( (free_kb - 4096) * 1024 )) /dev/zero >"$T/small/filler"
	# The workload in a directory of its own: the big files stay put.
	mkdir -p "$P/w"
	stress_start "$P/w" $((SEED + r)) 300
	# More than the 4 MiB left: files of 1 MiB, each written beside the
	# primary and renamed in whole, so that every version of it the
	# primary ever had is complete (a file caught while still written is
	# not what is looked for here).
	for i in $(seq 1 8); do
		head -c $((1 << 20)) /dev/urandom >"$T/big.tmp"
		mv "$T/big.tmp" "$P/big-$r-$i"
	done
	wait_for "d['failures']['count'] > 0 and any('No space left' in f['error'] \
for f in d['failures']['last'])" "an ENOSPC failure in status" 60
	wait_for "d['state'] == 'Faulty' and 'out of space' in (d['detail'] or '')" \
	    "Faulty: the secondary out of space" 30
	echo "  status: $(field "d['detail']")" >&2
	# Whatever is under a real name is whole: each big file is all of
	# its primary's content, or absent.
	for i in $(seq 1 8); do
		f=big-$r-$i
		[[ ! -e $S/$f ]] || cmp -s "$P/$f" "$S/$f" ||
			check_failed "a partial $f under its real name ($(stat -c %s "$S/$f") bytes)"
	done
	stress_stop
	t0=$(fault_time)
	rm "$T/small/filler"
	fault_converged "$t0" 120
	echo "  space freed ($r): converged in ${CONVERGE[-1]} s" >&2
	[[ $(field "d['failures']['count']") == 0 ]] ||
		check_failed "failures left after the space came back: $(st)"
done
final_verify
result faults="$ROUNDS times the secondary's filesystem full"
