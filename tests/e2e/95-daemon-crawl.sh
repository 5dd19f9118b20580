#!/usr/bin/env bash
# The daemon in crawl mode: start, a workload while it replicates, a
# checkpoint waited for with a deadline, full comparisons; stop/change/
# start; pause/change/resume; a second start; the worker and the monitor
# killed with SIGKILL; a missing primary refused at start; the primary
# moved away while it runs (Faulty, with the reason; replaced by another
# directory: not followed; back: converges); a secondary that cannot be
# reached at start.  Every fault ends in a full comparison, and the
# session log has one format throughout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

export GEOREP_TEST_NO_FSYNC=1
P=$T/p S=$T/s
at_exit 'G stop s >/dev/null 2>&1 || true'

SEED=${SEED:-$RANDOM}; echo "seed $SEED" >&2
python3 "$TOOLS/mktree.py" "$P" --seed "$SEED" --files 200 >/dev/null
expect_rc 0 G create s "$P" "$S" --config change_detector=crawl \
    --config crawl_interval=100ms --config timeout=10s

step "start; a second start is refused; an unknown session is refused"
expect_rc 0 G start s
expect_stdout "started session s"
expect_rc 75 G start s
expect_stderr "session s is already running"
expect_rc 66 G start nosuch
expect_stderr "no session 'nosuch'"
checkpoint_and_compare

step "a workload while it replicates"
for round in 1 2 3; do
	python3 "$TOOLS/workload.py" "$P" --seed $((SEED + round)) --ops 300 >/dev/null
done
checkpoint_and_compare
[[ $(field "d['state']") == "Hybrid Crawl" ]] || fail "state: $(st)"

step "stop, change, start"
expect_rc 0 G stop s
[[ $(field "d['state']") == Stopped ]] || fail "not Stopped: $(st)"
workload "$P" --seed $((SEED + 10)) --ops 300
expect_rc 0 G start s
checkpoint_and_compare

step "pause, change, resume"
expect_rc 0 G pause s
wait_for "d['state'] == 'Paused'" "Paused state"
python3 "$TOOLS/workload.py" "$P" --seed $((SEED + 20)) --ops 300 >/dev/null
expect_rc 0 G checkpoint s now
[[ $(field "d['checkpoint']['completed']") == False ]] ||
	fail "a checkpoint completed while paused"
expect_rc 0 G resume s
wait_for "d['checkpoint']['completed']" "checkpoint after resume" 90
compare "$P" "$S"

step "the worker killed with SIGKILL: restarted, converges"
mon=$(monitor_pid)
worker=$(pgrep -P "$mon" -x georep | head -1)
[[ -n $worker ]] || fail "no worker under monitor $mon"
python3 "$TOOLS/workload.py" "$P" --seed $((SEED + 30)) --ops 300 >/dev/null
kill -9 "$worker"
checkpoint_and_compare

step "the monitor killed with SIGKILL: the next start recovers"
mon=$(monitor_pid)
kill -9 "$mon"
deadline=$((SECONDS + 30))
while kill -0 "$mon" 2>/dev/null; do ((SECONDS < deadline)) || fail "monitor lives"; sleep 0.05; done
wait_for "d['state'] == 'Stopped'" "Stopped after the monitor died" 30
python3 "$TOOLS/workload.py" "$P" --seed $((SEED + 40)) --ops 300 >/dev/null
expect_rc 0 G start s
checkpoint_and_compare

step "a primary that is missing is refused at start, with the reason"
expect_rc 0 G stop s
mv "$P" "$T/p.away"
expect_rc 66 G start s
expect_stderr "the primary $P: No such file or directory"
[[ $(field "d['state']") == Stopped ]] || fail "not Stopped: $(st)"
mv "$T/p.away" "$P"
expect_rc 0 G start s
checkpoint_and_compare

step "the primary moved away while it runs: Faulty with the reason, back"
workload "$P" --seed $((SEED + 45)) --ops 100
checkpoint_and_compare
mv "$P" "$T/p.away"
wait_for "d['state'] == 'Faulty' and 'primary' in (d['detail'] or '') and \
'gone' in d['detail']" "Faulty state (primary gone)"
echo "written while away" >"$T/p.away/while-away"
mkdir "$P"	# another directory where the primary was: not replicated
echo "not the primary" >"$P/impostor"
wait_for "d['state'] == 'Faulty' and 'not the directory' in \
(d['detail'] or '')" "Faulty state (primary replaced)"
[[ ! -e $S/impostor && ! -e $S/while-away ]] ||
	fail "the secondary followed another directory"
rm -r "$P"
mv "$T/p.away" "$P"
checkpoint_and_compare
[[ -e $S/while-away ]] || fail "what was written while away is missing"

step "the secondary cannot be reached at start: Faulty, retried, recovers"
expect_rc 0 G stop s
mv "$S" "$T/s.away"
echo "not a directory" >"$S"	# root can create anything: a file is in the way
expect_rc 0 G start s
wait_for "d['state'] == 'Faulty' and 'secondary' in (d['detail'] or '')" \
    "Faulty state"
# The secondary said why on its stderr: in the session's log, in its format.
grep -q "error: secondary: .*$S" "$T/home/sessions/s/log" ||
	check_failed "the secondary's error is not in the session log"
rm "$S"
mv "$T/s.away" "$S"
checkpoint_and_compare
expect_rc 0 G stop s
expect_stdout "stopped session s"
check_log_format
