#!/usr/bin/env bash
# Metrics and logs of running sessions (georep(1) status --prometheus,
# georep.conf(5) metrics_listen and log_file):
#   - `status --prometheus` of two sessions is read by the Prometheus
#     client's own parser (python3-prometheus-client; line checks of our own
#     without it): each family once, a sample per session, the figures of
#     status --json (files, bytes, turns, state);
#   - metrics_listen: the monitor answers GET /metrics with the same
#     figures, read when asked (a change moves files and turns, the lag is
#     small); HEAD, /, 404, 405 and 400 as HTTP says; clients that connect
#     and say nothing hold neither the monitor (status answers) nor other
#     scrapes; out of descriptors, the endpoint pauses (a warning) and the
#     monitor does not spin, then serves again; the address changed by
#     `georep config` is served at once;
#   - a port already taken: an error in the log that names it, and the
#     session replicates all the same;
#   - the log: a line per turn with the sync point, the reason of the full
#     crawl, "connected" and, after the worker is killed, "reconnected"
#     with how long and how many attempts; every line names the session;
#   - start --log-file: the log where it says, status shows where, SIGHUP
#     reopens it (logrotate's rename); the log_file key; --log-file - with
#     --foreground writes to standard error.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

export GEOREP_TEST_NO_FSYNC=1
P=$T/p S=$T/s P2=$T/p2 S2=$T/s2
at_exit 'G stop s >/dev/null 2>&1 || true; G stop s2 >/dev/null 2>&1 || true'

# A free port on 127.0.0.1 (the kernel's pick; nobody else takes it in
# the instant before the session does, on a test machine).
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http METHOD PATH PORT: "STATUS\n" then the body, into $T/http.
http() {
	"$PY" - "$@" >"$T/http" <<-'PYEOF'
		import http.client, sys
		method, path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
		c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
		c.request(method, path)
		r = c.getresponse()
		print(r.status)
		print(r.getheader("Content-Type"))
		sys.stdout.write(r.read().decode())
	PYEOF
}

# raw PORT TEXT: what the endpoint answers to TEXT, sent as it is.
raw() {
	"$PY" - "$@" <<-'PYEOF'
		import socket, sys
		s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
		out = b""
		try:
		    s.sendall(sys.argv[2].encode())
		    while True:
		        b = s.recv(65536)
		        if not b:
		            break
		        out += b
		except ConnectionResetError:
		    out = b"reset"
		print(out.split(b"\r\n")[0].decode())
	PYEOF
}

# within LIMIT CMD: 0 once CMD (eval) succeeds, 1 after LIMIT seconds.
within() {
	local deadline=$((SECONDS + $1))
	until eval "$2"; do
		((SECONDS < deadline)) || return 1
		sleep 0.05
	done
}

# metric FILE NAME SESSION: the value of NAME{session="SESSION"} in FILE.
metric() {
	sed -nE "s/^$2\\{session=\"$3\"\\} (.*)\$/\\1/p" "$1"
}

# check_exposition FILE: valid text format, each family once.
parser=
for py in "$PY" /usr/bin/python3; do
	if [[ -x $py ]] && "$py" -c 'import prometheus_client.parser' 2>/dev/null; then
		parser=$py
		break
	fi
done
check_exposition() {
	local f=$1 dup
	dup=$(grep -E '^# TYPE ' "$f" | awk '{ print $3 }' | sort | uniq -d)
	[[ -z $dup ]] || check_failed "families given twice in $f: $dup"
	# Every sample belongs to the family whose TYPE came last.
	awk '/^# TYPE / { fam = $3; next } /^#/ || /^$/ { next }
		{ name = $0; sub(/[{ ].*/, "", name)
		  if (name != fam) { print "a sample of " name " under " fam; bad = 1 } }
		END { exit bad }' "$f" >&2 ||
		check_failed "samples out of their family in $f"
	if [[ -n $parser ]]; then
		"$parser" - "$f" <<-'PYEOF' ||
			import sys
			from prometheus_client.parser import text_string_to_metric_families
			n = sum(len(f.samples) for f in text_string_to_metric_families(open(sys.argv[1]).read()))
			assert n > 0, "no samples"
		PYEOF
			check_failed "the Prometheus parser refused $f"
	else
		echo "note: python3-prometheus-client is not installed: line checks only" >&2
	fi
}

mkdir -p "$P" "$P2"
for i in $(seq 1 30); do echo "file $i" >"$P/f$i"; done
echo one >"$P2/one"
port=$(free_port)
expect_rc 0 G create s "$P" "$S" --config change_detector=inotify \
    --config metrics_listen="$port" --config timeout=5s
expect_rc 0 G create s2 "$P2" "$S2" --config change_detector=inotify

step "start: the log's path; metrics on the port"
expect_rc 0 G start s
expect_stdout "^started session s \\(pid [0-9]+\\); log: $T/home/sessions/s/log\$"
wait_for "d['state'] == 'Changelog Crawl' and d['files_synced'] == 30" "the first crawl"
grep -q "metrics on http://127.0.0.1:$port/metrics" "$T/home/sessions/s/log" ||
	check_failed "no line saying where the metrics are: $(cat "$T/home/sessions/s/log")"

step "GET /metrics: the session's figures"
http GET /metrics "$port"
[[ $(sed -n 1p "$T/http") == 200 ]] || fail "GET /metrics: $(head -3 "$T/http")"
[[ $(sed -n 2p "$T/http") == "text/plain; version=0.0.4; charset=utf-8" ]] ||
	check_failed "GET /metrics: content type $(sed -n 2p "$T/http")"
sed 1,2d "$T/http" >"$T/m1"
check_exposition "$T/m1"
[[ $(metric "$T/m1" georep_files_synced_total s) == 30 ]] ||
	check_failed "files synced: $(grep files_synced "$T/m1")"
[[ $(metric "$T/m1" georep_running s) == 1 ]] || check_failed "not running: $(grep running "$T/m1")"
grep -qx 'georep_state{session="s",state="Changelog Crawl"} 1' "$T/m1" ||
	check_failed "state: $(grep georep_state "$T/m1")"
[[ $(metric "$T/m1" georep_full_crawls_total s) -ge 1 ]] ||
	check_failed "no full crawl counted: $(grep crawl "$T/m1")"
grep -q "georep_info{session=\"s\",primary=\"$P\",secondary=\"$S\",detector=\"inotify\"} 1" "$T/m1" ||
	check_failed "info: $(grep georep_info "$T/m1")"
turns1=$(metric "$T/m1" georep_turns_total s)

step "a change: files and turns grow, the lag is small"
echo new >"$P/new"
set_checkpoint
wait_checkpoint
http GET /metrics "$port"
sed 1,2d "$T/http" >"$T/m2"
[[ $(metric "$T/m2" georep_files_synced_total s) == 31 ]] ||
	check_failed "files synced after a change: $(grep files_synced "$T/m2")"
(($(metric "$T/m2" georep_turns_total s) > turns1)) ||
	check_failed "turns did not grow: $turns1 -> $(metric "$T/m2" georep_turns_total s)"
[[ $(metric "$T/m2" georep_checkpoint_completed s) == 1 ]] ||
	check_failed "checkpoint not completed: $(grep checkpoint "$T/m2")"
lag=$(metric "$T/m2" georep_lag_seconds s)
"$PY" -c "import sys; sys.exit(0 if float('$lag') < 30 else 1)" ||
	check_failed "lag $lag"

step "HEAD, /, 404, 405, 400"
http HEAD /metrics "$port"
[[ $(sed -n 1p "$T/http") == 200 && $(wc -l <"$T/http") -le 2 ]] ||
	check_failed "HEAD /metrics: $(head -3 "$T/http")"
http GET / "$port"
[[ $(sed -n 1p "$T/http") == 200 ]] && grep -q /metrics "$T/http" ||
	check_failed "GET /: $(cat "$T/http")"
http GET /nothing "$port"
[[ $(sed -n 1p "$T/http") == 404 ]] || check_failed "GET /nothing: $(head -1 "$T/http")"
http POST /metrics "$port"
[[ $(sed -n 1p "$T/http") == 405 ]] || check_failed "POST: $(head -1 "$T/http")"
[[ $(raw "$port" $'hello\r\n\r\n') == "HTTP/1.0 400 Bad Request" ]] ||
	check_failed "garbage: not 400"
# More than a request may be: dropped (an answer, or a reset where the
# rest was not read), and the next one served.
endless=$(raw "$port" "$(head -c 5000 /dev/zero | tr '\0' x)")
[[ $endless == "HTTP/1.0 400 Bad Request" || $endless == reset ]] ||
	check_failed "an endless request line: '$endless'"
http GET /metrics "$port"
[[ $(sed -n 1p "$T/http") == 200 ]] || check_failed "GET after an endless request: $(head -1 "$T/http")"

step "clients that say nothing hold neither the monitor nor a scrape"
"$PY" - "$port" <<-'PYEOF' &
	import socket, sys, time
	socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(4)]
	time.sleep(4)
PYEOF
idle=$!
at_exit "kill $idle 2>/dev/null || true"
within 5 "[[ \$(ss -Htn state established '( dport = :$port )' | wc -l) -ge 4 ]]" ||
	echo "note: ss did not show the idle clients" >&2
t0=$(date +%s%N)
expect_rc 0 G status s
http GET /metrics "$port"
[[ $(sed -n 1p "$T/http") == 200 ]] || check_failed "a scrape beside idle clients: $(head -1 "$T/http")"
ms=$((($(date +%s%N) - t0) / 1000000))
((ms < 3000)) || check_failed "status and a scrape took $ms ms beside idle clients"
wait "$idle" || true

step "out of descriptors: accept pauses, the loop does not spin, then serves"
if command -v prlimit >/dev/null; then
	mon=$(monitor_pid)
	# The lowest descriptor free: a limit there leaves none to take.
	nfd=0
	while [[ -e /proc/$mon/fd/$nfd ]]; do nfd=$((nfd + 1)); done
	hard=$(prlimit --pid "$mon" --nofile --output HARD --noheadings | tr -d ' ')
	prlimit --pid "$mon" --nofile="$nfd:$hard"
	"$PY" - "$port" <<-'PYEOF' || true
		import socket, sys
		s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
		s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
		try:
		    s.recv(100)
		except OSError:
		    pass
	PYEOF
	within 10 "grep -q 'metrics: accept (paused for a second)' '$T/home/sessions/s/log'" ||
		check_failed "no warning for accept out of descriptors: $(tail -3 "$T/home/sessions/s/log")"
	cpu() { awk '{ print $14 + $15 }' "/proc/$mon/stat"; }
	c0=$(cpu)
	sleep 2	# a span of time to measure the CPU the monitor spends
	c1=$(cpu)
	prlimit --pid "$mon" --nofile="$hard:$hard"
	# Clock ticks (100 a second): a loop that spins would take ~200.
	((c1 - c0 < 50)) || check_failed "the monitor spun on a listener it cannot accept from: $((c1 - c0)) ticks in 2 s"
	within 10 "\"$PY\" -c 'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:$port/metrics\", timeout=2)' 2>/dev/null" ||
		check_failed "no scrape served once descriptors are back"
else
	echo "note: prlimit is not installed: the descriptor case is not run" >&2
fi

step "status --prometheus: both sessions, one family at a time"
expect_rc 0 G start s2
sess=s2 wait_for "d['state'] == 'Changelog Crawl'" "s2 running"
expect_rc 0 G status --prometheus
cp "$T/out" "$T/all"
check_exposition "$T/all"
[[ $(grep -c '^georep_lag_seconds{' "$T/all") == 2 ]] ||
	check_failed "lag samples: $(grep '^georep_lag_seconds' "$T/all")"
[[ $(metric "$T/all" georep_files_synced_total s2) == 1 ]] ||
	check_failed "s2 files: $(grep files_synced "$T/all")"
expect_rc 0 G status --prometheus s2
grep -q 'session="s"' "$T/out" && check_failed "status --prometheus s2 shows s"
expect_rc 66 G status --prometheus nosuch

step "a port already taken: an error naming it, and the session replicates"
expect_rc 0 G stop s2
expect_rc 0 G config s2 metrics_listen "127.0.0.1:$port"
expect_rc 0 G start s2
sess=s2 wait_for "d['state'] == 'Changelog Crawl'" "s2 running"
within 10 "grep -q 'metrics_listen 127.0.0.1:$port: .*: metrics are not served' '$T/home/sessions/s2/log'" ||
	check_failed "no error for the taken port: $(cat "$T/home/sessions/s2/log")"
echo two >"$P2/two"
sess=s2 set_checkpoint
sess=s2 wait_checkpoint
compare "$P2" "$S2"

step "config metrics_listen on a running session: served at once"
port2=$(free_port)
expect_rc 0 G config s2 metrics_listen "$port2"
within 20 "\"$PY\" -c 'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:$port2/metrics\", timeout=2)' 2>/dev/null" ||
	check_failed "the new port $port2 is not served: $(tail -5 "$T/home/sessions/s2/log")"

step "the log: turns, the crawl's reason, connected, reconnected; every line names the session"
log=$T/home/sessions/s/log
grep -Eq " s info: turn \\(journal, [0-9]+ records?\\): .* sync point [0-9]{4}-" "$log" ||
	check_failed "no turn line: $(cat "$log")"
grep -q " s info: a full crawl of the primary: the first since this start" "$log" ||
	check_failed "no reason for the first crawl: $(cat "$log")"
grep -q " s info: connected to $S\$" "$log" || check_failed "no connected line: $(cat "$log")"
kill -KILL "$(worker_pid)"
within 30 "grep -Eq ' s info: reconnected to $S, [0-9.]+ s after the first failure \\(1 failed attempt\\)' '$log'" ||
	check_failed "no reconnected line: $(tail -5 "$log")"
wait_for "d['state'] == 'Changelog Crawl'" "running again"
check_log_format

step "start --log-file: there, shown by status, reopened on SIGHUP"
expect_rc 0 G stop s
expect_rc 0 G start --log-file "$T/mine.log" s
expect_stdout "log: $T/mine.log\$"
wait_for "d['state'] == 'Changelog Crawl' and d['log'] == '$T/mine.log'" "status showing the log"
mv "$T/mine.log" "$T/mine.log.1"
kill -HUP "$(monitor_pid)"
within 10 "grep -q 'log reopened (SIGHUP)' '$T/mine.log' 2>/dev/null" ||
	check_failed "SIGHUP did not reopen the log: $(ls "$T")"
expect_rc 0 G stop s
grep -q "session s stopped" "$T/mine.log" || check_failed "the stop is not in the reopened log"

step "the log_file key; --log-file - with --foreground"
expect_rc 0 G config s log_file "$T/key.log"
expect_rc 64 G config s log_file relative.log
expect_rc 0 G start s
expect_stdout "log: $T/key.log\$"
wait_for "d['state'] == 'Changelog Crawl'" "running"
expect_rc 0 G stop s
grep -q "session s stopped" "$T/key.log" || check_failed "nothing in the log_file"
expect_rc 0 G config s log_file ''
expect_rc 64 G start --log-file '' s
# The binary itself in the background (G would be a subshell's child).
"$GEOREP" start --home "$T/home" --foreground --log-file - s 2>"$T/fg.err" &
fg=$!
at_exit "kill $fg 2>/dev/null || true"
wait_for "d['pid'] == $fg and d['state'] == 'Changelog Crawl'" "the foreground session"
kill -TERM "$fg"
wait "$fg" || check_failed "foreground: exit status $?"
grep -q "^georep: s: session s stopped" "$T/fg.err" ||
	check_failed "foreground log: $(cat "$T/fg.err")"
