#!/usr/bin/env bash
# Torture 6: the kernel's event queue overflows, with fanotify (as root)
# and with inotify: the monitor is stopped (SIGSTOP) while more events than
# the queue holds pile up (a flood of new files, and the workload), then
# let go.  The overflow is seen ("overflow" in the log), a full crawl
# covers it, and the trees converge.  The time from the monitor let go to a
# completed checkpoint is measured.  Short: once, fanotify (inotify when not
# root); full: three times per detector.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROUNDS=$(scale 1 3)
FLOOD=${FLOOD:-20000}	# > 16384: fanotify's queue, and inotify's default
# Short: one detector (fanotify as root); full: both.
DETECTORS=inotify
((EUID == 0)) && DETECTORS=$(scale fanotify "fanotify inotify")
stopped=
at_exit '[[ -z $stopped ]] || kill -CONT $stopped 2>/dev/null || true'
n=0
for det in $DETECTORS; do
	sess=$det P=$T/p-$det S=$T/s-$det
	mkdir -p "$P/flood" "$P/w"
	"$FSSTRESS" "$P/w" --seed "$SEED" --ops 1000 >"$T/seed-$det.log" 2>&1
	session_up "$det"
	[[ $(field "d['change_detector']") == "$det" ]] ||
		fail "the session runs with $(field "d['change_detector']"), not $det"
	stress_start "$P/w" $((SEED + 1)) 200
	for ((r = 1; r <= ROUNDS; r++)); do
		n=$((n + 1))
		logf=$T/home/sessions/$sess/log
		off=$(stat -c %s "$logf")
		mon=$(monitor_pid)
		stopped=$mon
		kill -STOP "$mon"
		"$PY" - "$P/flood" "$FLOOD" "$r" <<-'PYEOF'
			import os, sys
			d, n, r = sys.argv[1], int(sys.argv[2]), sys.argv[3]
			for i in range(n):
			    with open(os.path.join(d, "r%s-%05d" % (r, i)), "wb") as f:
			        f.write(b"flood %d\n" % i)
		PYEOF
		t0=$(fault_time)
		kill -CONT "$mon"
		stopped=
		fault_converged "$t0" 180
		echo "  $det overflow $r: converged in ${CONVERGE[-1]} s" >&2
		tail -c +$((off + 1)) "$logf" |
			awk 'tolower($0) ~ /overflow/ { f = 1 } END { exit !f }' ||
			check_failed "no 'overflow' in $logf after the flood"
		rm -rf "$P/flood" && mkdir "$P/flood"
	done
	final_verify
	expect_rc 0 G stop "$sess"
done
result faults="$n queue overflows ($DETECTORS)"
