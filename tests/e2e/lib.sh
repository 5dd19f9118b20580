# Shared helpers for the end-to-end scenarios: source it first.
#
#   $GEOREP          the binary under test (absolute path)
#   $T               this scenario's scratch directory (made when unset)
#   $TOOLS           tests/tools
#   gsync ARGS...    georep sync --home $T/home --no-fsync ARGS...
#   run CMD...       run CMD; its stdout and stderr go to $T/out and $T/err
#                    (and to the log); its exit status to $RC; never fails
#   expect_rc CODE CMD...   run CMD and fail unless it exits with CODE
#   check_rc CODE CMD...    the same as a failed check (the scenario goes on)
#   expect_stderr REGEX     the last command's stderr matches (grep -E)
#   expect_no_stderr REGEX  ... does not match
#   expect_stdout REGEX     the last command's stdout matches
#   expect_output REGEX     its stdout or stderr matches
#   summary_field NAME      from the last summary line ("files sent",
#                           "bytes sent", "entries changed", "attributes set")
#   expect_nothing_sent     the last summary says "0 files (0B) sent"
#   compare P S [OPTS]      tests/tools/treecmp.py; a difference is a failed
#                           check (the scenario goes on, and fails at its
#                           end; KEEP_GOING=0 stops at once)
#   check_failed MSG        record a failed check and go on
#   step TEXT               a marker in the log
#   fail MSG                fail the scenario with MSG
#   at_exit CMD             run CMD (eval) when the scenario ends, LIFO
#   skip MSG                end the scenario as skipped (exit 77)
#   need_root               skip unless root

set -Eeuo pipefail

: "${GEOREP:?GEOREP must name the georep binary}"
[[ -x $GEOREP ]] || { echo "GEOREP=$GEOREP is not executable" >&2; exit 1; }
TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)
if [[ -z ${T:-} ]]; then
	T=$(mktemp -d "${TMPDIR:-/tmp}/georep-e2e.XXXXXX")
	echo "scratch: $T"
fi
export T TOOLS GEOREP
cd "$T"

_cleanups=()
at_exit() { _cleanups+=("$1"); }
_failed_checks=()
_at_exit() {
	local rc=$? i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[i]}" || true
	done
	if ((${#_failed_checks[@]})); then
		echo "== ${#_failed_checks[@]} check(s) failed:" >&2
		printf '  %s\n' "${_failed_checks[@]}" >&2
		((rc != 0 && rc != 77)) || rc=1
	fi
	exit "$rc"
}
trap _at_exit EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'echo "error: ${BASH_SOURCE[0]##*/} line $LINENO: \"$BASH_COMMAND\" exited with $?" >&2' ERR

fail() {
	echo "FAIL: $* (${BASH_SOURCE[1]##*/} line ${BASH_LINENO[0]})" >&2
	exit 1
}

# A failed check that lets the scenario go on (the scenario still fails, at
# its end, with the list of such checks): for comparisons, so that one run
# shows every step that goes wrong.  KEEP_GOING=0 makes them fatal.
check_failed() {
	local i=1 where
	# The first caller outside this file.
	while ((i < ${#BASH_SOURCE[@]} - 1)) &&
		[[ ${BASH_SOURCE[i]} == "${BASH_SOURCE[0]}" ]]; do
		i=$((i + 1))
	done
	where="${BASH_SOURCE[i]##*/} line ${BASH_LINENO[i - 1]}"
	echo "FAIL: $* ($where)" >&2
	_failed_checks+=("${_step:-}: $* ($where)")
	[[ ${KEEP_GOING:-1} == 1 ]] || exit 1
}

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

need_root() { ((EUID == 0)) || skip "needs root"; }

_step=
step() { _step=$*; echo "== $*" >&2; }

gsync() { "$GEOREP" sync --home "$T/home" --no-fsync "$@"; }

RC=0
run() {
	echo "+ $*" >&2
	RC=0
	"$@" >"$T/out" 2>"$T/err" || RC=$?
	sed 's/^/  out: /' "$T/out" | head -200 >&2
	sed 's/^/  err: /' "$T/err" | head -200 >&2
	echo "  rc: $RC" >&2
}

expect_rc() {
	local want=$1
	shift
	run "$@"
	[[ $RC == "$want" ]] || {
		echo "FAIL: expected exit status $want, got $RC from: $*" \
			"(${BASH_SOURCE[1]##*/} line ${BASH_LINENO[0]})" >&2
		exit 1
	}
}

# Like expect_rc, but a failed check: the scenario goes on.
check_rc() {
	local want=$1
	shift
	run "$@"
	[[ $RC == "$want" ]] ||
		check_failed "expected exit status $want, got $RC from: $*"
}

expect_stderr() {
	grep -Eq -- "$1" "$T/err" ||
		fail "stderr does not match /$1/"
}

expect_no_stderr() {
	! grep -Eq -- "$1" "$T/err" ||
		fail "stderr matches /$1/ and should not"
}

expect_stdout() {
	grep -Eq -- "$1" "$T/out" ||
		fail "stdout does not match /$1/"
}

expect_output() {
	cat "$T/out" "$T/err" | grep -Eq -- "$1" ||
		fail "neither stdout nor stderr matches /$1/"
}

# The summary: "georep: F files and D directories seen; N files (S) sent,
# E entries changed, A attributes set" (a count of 1 takes the singular).
summary_field() {
	local line
	line=$(grep -E 'files? and [0-9]+ director(y|ies) seen;' "$T/err" | tail -1)
	[[ -n $line ]] || fail "no summary line on stderr"
	case $1 in
	"files sent") sed -E 's/.*seen; ([0-9]+) files? \(.*/\1/' <<<"$line" ;;
	"bytes sent") sed -E 's/.*seen; [0-9]+ files? \(([^)]*)\) sent.*/\1/' <<<"$line" ;;
	"entries changed") sed -E 's/.* ([0-9]+) entr(y|ies) changed.*/\1/' <<<"$line" ;;
	"attributes set") sed -E 's/.* ([0-9]+) attributes? set.*/\1/' <<<"$line" ;;
	*) fail "summary_field: unknown field $1" ;;
	esac
}

expect_nothing_sent() {
	grep -Eq 'seen; 0 files \(0B\) sent' "$T/err" ||
		check_failed "expected '0 files (0B) sent' in the summary"
}

compare() {
	echo "+ treecmp $*" >&2
	python3 "$TOOLS/treecmp.py" --max 200 "$@" >"$T/cmp" 2>&1 || {
		sed 's/^/  diff: /' "$T/cmp" >&2
		check_failed "the trees differ: treecmp $*"
	}
}

mktree() { python3 "$TOOLS/mktree.py" "$@" >&2; }

# until_true WHAT LIMIT CMD...: wait (LIMIT seconds at most) until CMD
# succeeds; a failure naming WHAT otherwise.
until_true() {
	local what=$1 limit=$2 deadline=$((SECONDS + $2))
	shift 2
	until "$@"; do
		((SECONDS < deadline)) || fail "not within ${limit}s: $what"
		sleep 0.02
	done
}
workload() { python3 "$TOOLS/workload.py" "$@" >&2; }

# ---- sessions: the daemon ----
#
#   G CMD ARGS...         georep CMD --home $T/home ARGS...
#   $sess, $P, $S         the session the helpers look at, and its trees
#   st                    its status (--json)
#   field EXPR            a python expression over that status (d)
#   wait_for COND WHAT [LIMIT]   poll the status every 50 ms until COND (a
#                         python expression over d) holds; fail after LIMIT
#                         seconds (60)
#   set_checkpoint [TIME] a checkpoint "now" (or at TIME); $cp_time is its
#                         time as status prints it
#   time_ahead MS         the time MS milliseconds from now, as seconds
#                         since the epoch with a fraction
#   wait_checkpoint [LIMIT]   until that very checkpoint completed (until
#                         the worker has read a new checkpoint, status
#                         still shows the previous one, completed)
#   no_failures           a failed check unless no failure is parked
#   checkpoint_and_compare [LIMIT]   both, then compare $P $S, no failures
#   monitor_pid, worker_pid, secondary_pid   the session's processes
#   check_log_format      every line of the session's log has one format
#                         (time, [pid], level): a failed check otherwise
#
# python3 may be a shim (pyenv) that costs half a second a call: the
# interpreter itself goes first in PATH.
PY=$(python3 -c 'import sys; print(sys.executable)')
PATH=$(dirname "$PY"):$PATH
sess=s
G() { "$GEOREP" "$1" --home "$T/home" "${@:2}"; }
st() { "$GEOREP" status --home "$T/home" --json "$sess"; }
field() { st | "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

wait_for() {
	local cond=$1 what=$2 limit=${3:-60}
	"$PY" - "$GEOREP" "$T/home" "$sess" "$cond" "$limit" <<-'PYEOF' ||
		import json, subprocess, sys, time
		georep, home, name, cond, limit = sys.argv[1:6]
		deadline = time.monotonic() + float(limit)
		while True:
		    p = subprocess.run([georep, "status", "--home", home, "--json",
		                        name], stdout=subprocess.PIPE)
		    if p.returncode == 0 and eval(cond, {"d": json.loads(p.stdout)}):
		        sys.exit(0)
		    if time.monotonic() > deadline:
		        sys.exit(1)
		    time.sleep(0.05)
	PYEOF
		fail "no $what within ${limit}s: $(st)"
}

cp_time=
set_checkpoint() {
	expect_rc 0 G checkpoint "$sess" "${1:-now}"
	cp_time=$(sed -nE 's/^checkpoint ([^ ]+) set on session .*/\1/p' "$T/out")
	[[ -n $cp_time ]] || fail "no checkpoint time in: $(cat "$T/out")"
}
time_ahead() {
	local t
	t=$(( $(date +%s%N) + $1 * 1000000 ))
	printf '%d.%09d\n' $((t / 1000000000)) $((t % 1000000000))
}
wait_checkpoint() {
	wait_for "d['checkpoint']['time'] == '$cp_time' and \
d['checkpoint']['completed']" "completed checkpoint $cp_time" "${1:-90}"
}
no_failures() {
	local n
	n=$(field "d['failures']['count']")
	[[ $n == 0 ]] || check_failed "$n failure(s) parked: $(st)"
}
checkpoint_and_compare() {
	set_checkpoint
	wait_checkpoint "${1:-90}"
	compare "$P" "$S"
	no_failures
}
monitor_pid() { field "d['pid']"; }
worker_pid() { pgrep -P "$(monitor_pid)" -x georep | head -1 || true; }
secondary_pid() {
	local w
	w=$(worker_pid)
	[[ -n $w ]] && pgrep -P "$w" -x georep | head -1 || true
}
check_log_format() {
	local log=$T/home/sessions/$sess/log bad
	bad=$(grep -nvE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z \[[0-9]+\] ($sess )?(error|warning|info|debug): " "$log" | head -5 || true)
	[[ -z $bad ]] || check_failed "lines of $log in another format: $bad"
}
