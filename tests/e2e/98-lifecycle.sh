#!/usr/bin/env bash
# A session's life cycle and a status that tells the truth, with the real
# daemon (inotify, so that it runs as any user; fanotify is 97's):
#   - delete of a running session is refused (75); --force stops it first;
#   - SIGHUP reopens the log (logrotate) and the session goes on;
#   - config on a running session is applied, and says so;
#   - a checkpoint set ahead of the clock completes at its time, with
#     nothing changed meanwhile;
#   - the worker killed while the primary is idle: it settles (a completed
#     checkpoint stays completed, a new one completes with no change);
#   - the backoff starts over once a worker made progress, and a worker
#     killed from outside restarts after a second, four kills in a row too;
#   - the secondary killed, or stopped (the keep-alive), while idle: Faulty
#     with the reason within the timeout, then back;
#   - the sync point never moves back across pause, stop and start;
#   - FILES counts the last turn at once;
#   - a Faulty row shows the reason and the log; --json has every field of
#     the table; --detail shows the pending operations and the crawl;
#   - a name holding a newline stays on one line of the (debug) log, and
#     every line of the log has one format;
#   - a primary without file handles (ramfs) is refused at create and at
#     start (as root).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

export GEOREP_TEST_NO_FSYNC=1
P=$T/p S=$T/s
SEED=${SEED:-$RANDOM}; echo "seed $SEED" >&2
at_exit 'G stop s >/dev/null 2>&1 || true; G stop s2 >/dev/null 2>&1 || true'
same_file() { cmp -s "$1" "$2"; }

on_secondary() { same_file "$P/$1" "$S/$1"; }

mktree "$P" --seed "$SEED" --files 100
expect_rc 0 G create s "$P" "$S" --config change_detector=inotify \
    --config timeout=2s --config crawl_interval=1h

step "the first crawl in progress shows in status"
# GEOREP_TEST_HOLD holds each turn before its data while the file exists.
touch "$T/hold"
GEOREP_TEST_HOLD=$T/hold expect_rc 0 G start s
expect_stdout "started session s \(pid [0-9]+\); log: $T/home/sessions/s/log"
wait_for "d['state'] == 'Initializing' and d['crawl'] is not None and \
d['crawl']['kind'] == 'first crawl' and d['crawl']['files_seen'] >= 100 and \
d['crawl']['dirs_seen'] > 0 and d['crawl']['bytes_total'] > 0 and \
d['data_pending'] > 0" "the first crawl's progress in status" 30
expect_rc 0 G status --detail s
expect_stdout "crawl: +first crawl since [^:]+:[0-9:.]+Z: [0-9]+ files and [0-9]+ directories seen"
expect_stdout "pending: +[0-9]+ entr(y|ies), [1-9][0-9]* data"
rm "$T/hold"
checkpoint_and_compare
[[ $(field "d['crawl']") == None ]] || check_failed "a crawl shown when idle: $(st)"
wait_for "d['state'] == 'Changelog Crawl'" "Changelog Crawl"

step "delete of a running session is refused; nothing stops"
mon=$(monitor_pid)
expect_rc 75 G delete s
expect_stderr "session s is running \(monitor pid $mon\): stop it first"
kill -0 "$mon" || fail "delete stopped the monitor"
[[ -f $T/home/sessions/s/log ]] || fail "delete removed the log"
echo "after a refused delete" >"$P/after-delete"
checkpoint_and_compare

step "SIGHUP: the log is reopened, the session goes on"
mv "$T/home/sessions/s/log" "$T/log.1"
kill -HUP "$mon"
until_true "a new log" 10 grep -q "log reopened" "$T/home/sessions/s/log"
[[ $(monitor_pid) == "$mon" ]] || fail "SIGHUP changed the monitor: $(st)"
echo "after SIGHUP" >"$P/after-hup"
checkpoint_and_compare
wait_for "d['state'] == 'Changelog Crawl'" "Changelog Crawl after SIGHUP"

step "config on a running session is applied, and says so"
expect_rc 0 G config s exclude '*.tmp'
expect_stdout "applied to the running session s"
echo skipped >"$P/x.tmp"
echo sent >"$P/y.dat"
checkpoint_and_compare_excluded() {
	set_checkpoint
	wait_checkpoint
	[[ -e $S/y.dat && ! -e $S/x.tmp ]] ||
		check_failed "exclude not applied: y.dat $(ls "$S/y.dat" 2>&1), x.tmp $(ls "$S/x.tmp" 2>&1)"
}
checkpoint_and_compare_excluded
expect_rc 0 G config s exclude ''
expect_stdout "applied to the running session s"
checkpoint_and_compare

step "a checkpoint ahead of the clock completes at its time, nothing changed"
set_checkpoint "$(time_ahead 1500)"
[[ $(field "d['checkpoint']['completed']") == False ]] ||
	check_failed "a checkpoint completed before its time: $(st)"
wait_checkpoint 30
done_at=$(field "d['checkpoint']['completed_at']")
[[ $done_at > $cp_time ]] ||
	check_failed "completed at $done_at, before its time $cp_time"

step "the worker killed while the primary is idle: it settles"
completed_cp=$cp_time
worker=$(worker_pid)
[[ -n $worker ]] || fail "no worker"
kill -9 "$worker"
wait_for "d['state'] == 'Changelog Crawl' and d['detail'] is None" \
    "Changelog Crawl again, with no detail" 30
[[ $(field "d['checkpoint']['time'] == '$completed_cp' and \
d['checkpoint']['completed']") == True ]] ||
	check_failed "the completed checkpoint shows as pending: $(st)"
set_checkpoint
wait_checkpoint 30
[[ $(worker_pid) != "$worker" ]] || fail "no new worker"

step "the backoff starts over once a worker made progress"
logf=$T/home/sessions/s/log
off=$(stat -c %s "$logf")
for i in 1 2 3; do
	worker=$(worker_pid)
	[[ -n $worker ]] || fail "no worker (round $i)"
	echo "round $i" >"$P/round$i"
	until_true "round$i on the secondary" 20 on_secondary "round$i"
	kill -9 "$worker"
	until_true "a new worker (round $i)" 30 \
		bash -c "w=\$(pgrep -P $mon -x georep | head -1); [[ -n \$w && \$w != $worker ]]"
done
got=$(tail -c +$((off + 1)) "$logf" | grep -c "retrying in 1 s" || true)
[[ $got == 3 ]] || check_failed "$got of 3 restarts waited 1 s: $(tail -c +$((off + 1)) "$logf" | grep retrying)"
checkpoint_and_compare

step "kill -9 four times in a row, no progress between: a second each"
# A worker killed from outside is restarted after a second, whatever came
# before; only failures that repeat by themselves back off (they took up
# to a minute for four kills before).
off=$(stat -c %s "$logf")
for i in 1 2 3 4; do
	worker=$(worker_pid)
	[[ -n $worker ]] || fail "no worker (kill $i)"
	kill -9 "$worker"
	until_true "a new worker (kill $i)" 30 \
		bash -c "w=\$(pgrep -P $mon -x georep | head -1); [[ -n \$w && \$w != $worker ]]"
done
got=$(tail -c +$((off + 1)) "$logf" | grep -c "retrying in 1 s" || true)
[[ $got == 4 ]] || check_failed "$got of 4 restarts waited 1 s: $(tail -c +$((off + 1)) "$logf" | grep retrying)"
checkpoint_and_compare

step "the secondary killed while idle: Faulty with the reason, then back"
sec=$(secondary_pid)
[[ -n $sec ]] || fail "no secondary process"
kill -9 "$sec"
wait_for "d['state'] == 'Faulty' and 'killed by signal 9' in (d['detail'] or '')" \
    "Faulty (secondary killed)" 10
wait_for "d['state'] == 'Changelog Crawl'" "Changelog Crawl again" 30
checkpoint_and_compare

step "the secondary stopped while idle: the keep-alive notices within timeout"
sec=$(secondary_pid)
[[ -n $sec ]] || fail "no secondary process"
kill -STOP "$sec"
wait_for "d['state'] == 'Faulty' and 'keep-alive' in (d['detail'] or '')" \
    "Faulty (no answer to the keep-alive)" 15
kill -CONT "$sec" 2>/dev/null || true
wait_for "d['state'] == 'Changelog Crawl'" "Changelog Crawl again" 30
checkpoint_and_compare

step "the sync point never moves back: pause, stop, start"
echo "settle" >"$P/settle"
checkpoint_and_compare
seen=$(field "d['last_synced']")
check_not_before() {
	local now
	now=$(field "d['last_synced']")
	[[ ! $now < $seen ]] || check_failed "last synced went back $1: $seen -> $now"
	seen=$now
}
check_not_before "(running)"
expect_rc 0 G pause s
wait_for "d['state'] == 'Paused'" "Paused"
check_not_before "at pause"
expect_rc 0 G resume s
wait_for "d['state'] == 'Changelog Crawl'" "Changelog Crawl after resume"
check_not_before "at resume"
expect_rc 0 G stop s
check_not_before "at stop"
expect_rc 0 G start s
check_not_before "at start"
checkpoint_and_compare
mon=$(monitor_pid)

step "the link cut in the middle of a turn: a walk, then no crawl"
# The turn is held before its data (GEOREP_TEST_HOLD); the secondary dies
# meanwhile: the next worker walks the secondary (the turn's marker), then
# lists only the directories its records name -- no crawl of the primary --
# and nothing is lost.
expect_rc 0 G stop s
GEOREP_TEST_HOLD=$T/hold expect_rc 0 G start s
checkpoint_and_compare
logf=$T/home/sessions/s/log
off=$(stat -c %s "$logf")
touch "$T/hold"
mkdir "$P/cut"
for i in 1 2 3; do echo "cut $i" >"$P/cut/f$i"; done
echo "cut too" >"$P/cut-top"
# (The held turn may have only the mkdir: its records are cut as soon as
# the worker is free.  Whatever it holds, it fails once the secondary is
# gone: at its next operation, or at its commit.)
wait_for "d['crawl'] is not None and d['crawl']['kind'] == 'journal'" \
    "a journal turn held before its data" 30
sec=$(secondary_pid)
[[ -n $sec ]] || fail "no secondary process"
kill -9 "$sec"
rm "$T/hold"
wait_for "d['state'] == 'Faulty'" "Faulty (secondary killed in a turn)" 15
checkpoint_and_compare
since() { tail -c +$((off + 1)) "$logf"; }
since | grep -q "walking .* to check the index" ||
	check_failed "no walk of the secondary after the cut: $(since | tail -5)"
since | grep -q "after the walk, the turn lists the directories its records name" ||
	check_failed "the turn after the walk did not stay directed: $(since | grep -i 'after the walk' || true)"
mon=$(monitor_pid)

step "FILES counts the last turn at once"
files=$(field "d['files_synced']")
echo "one more" >"$P/one-more"
until_true "one-more on the secondary" 20 on_secondary one-more
wait_for "d['files_synced'] == $files + 1" "files_synced $((files + 1))" 5

step "status: a Faulty row says why and where the log is; --json, --detail"
expect_rc 0 G stop s
mv "$S" "$T/s.away"
echo "in the way" >"$S"
expect_rc 0 G start s
wait_for "d['state'] == 'Faulty'" "Faulty (secondary unusable)" 30
expect_rc 0 env COLUMNS=200 "$GEOREP" status --home "$T/home" s
expect_stdout "^s +Faulty"
expect_stdout "the secondary \($S\) exited with status 73: cannot open the secondary directory"
expect_stdout "log: $T/home/sessions/s/log"
expect_rc 0 G status --json s
"$PY" - "$T/out" <<-'EOF' || check_failed "status --json lacks a field of the table"
	import json, sys
	d = json.load(open(sys.argv[1]))
	for k in ("name", "state", "last_synced", "secondary", "lag_seconds",
	          "files_synced", "detail", "log", "entries_pending",
	          "data_pending", "meta_pending", "changes_pending", "crawl"):
	    assert k in d, k
	assert "count" in d["failures"] and "last" in d["failures"]
	for k in ("time", "completed", "completed_at"):
	    assert k in d["checkpoint"], k
	assert d["log"].endswith("/sessions/s/log")
EOF
expect_rc 0 G status --detail s
for f in "state: +Faulty" "detail: +the secondary \\(" "last synced:" "crawl:" \
    "pending: +[0-9]+ entr" "checkpoint:" "log: +$T/home/sessions/s/log"; do
	grep -Eq -- "$f" "$T/out" || check_failed "status --detail lacks /$f/"
done
rm "$S"
mv "$T/s.away" "$S"
wait_for "d['state'] == 'Changelog Crawl'" "Changelog Crawl again" 60
checkpoint_and_compare

step "a name with a newline: one line of the debug log; one format"
expect_rc 0 G config s log_level debug
expect_stdout "applied to the running session s"
name=$'new\nline'
echo "newline" >"$P/$name"
checkpoint_and_compare
grep -q 'new\\x0aline' "$T/home/sessions/s/log" ||
	check_failed "the name is not in the debug log, escaped"
check_log_format

step "delete --force stops a running session, then deletes it"
mon=$(monitor_pid)
expect_rc 0 G delete --force s
expect_stdout "stopped session s"
expect_stdout "deleted session s"
until_true "monitor $mon gone" 10 bash -c "! kill -0 $mon 2>/dev/null || \
    [[ \$(ps -o stat= -p $mon) == Z* ]]"
[[ ! -e $T/home/sessions/s ]] || fail "the session directory is still there"

step "a primary without file handles (ramfs): refused at create and start"
if ((EUID == 0)); then
	mkdir -p "$T/ram"
	mount -t ramfs none "$T/ram"
	at_exit "umount '$T/ram' 2>/dev/null || true"
	expect_rc 66 G create s2 "$T/ram" "$T/s2"
	expect_stderr "cannot get file handles"
	[[ ! -e $T/home/sessions/s2 ]] || fail "a refused create left a session"
	umount "$T/ram"
	expect_rc 0 G create s2 "$T/ram" "$T/s2"
	mount -t ramfs none "$T/ram"
	expect_rc 66 G start s2
	expect_stderr "cannot get file handles"
	expect_stderr "session s2 not started"
	[[ $(sess=s2; field "d['state']") == Created ]] ||
		fail "a refused start changed the state: $(sess=s2; st)"
	umount "$T/ram"
else
	echo "SKIP-PART: ramfs needs root" >&2
fi
