# The torture suite's helpers (tests/torture/NN-*.sh), beside those of
# tests/e2e/lib.sh, which this sources.  A case injects its faults into a
# live session while a seeded workload (fsstress) changes the primary, and
# ends with both trees verified: the session converged (a checkpoint
# completed), `georep verify NAME` and `georep verify PRIMARY SECONDARY`
# (which judges everything) exit 0, and nothing is parked as failed.
#
#   TORTURE_SCALE   short (make check: a few faults each) or full (make
#                   torture: the numbers docs/RELIABILITY.md quotes)
#   TORTURE_RESULTS a file each case appends its figures to (one line)
#   TORTURE_LOG_LEVEL  the sessions' log_level (info; debug to chase a
#                   failure)
#   FSSTRESS        the workload generator (built by make)
#
#   scale SHORT FULL     the number for this scale
#   stress_start DIR SEED [RATE]   fsstress in the background, until
#                        stress_stop (which counts its operations in OPS)
#   fault_time           now, for a fault (monotonic ms)
#   fault_converged T0   a checkpoint set now completes; its time since T0
#                        (fault_time of the fault) joins CONVERGE
#   final_verify         stop the workload, converge, verify both ways
#   result KEY=VALUE...  the case's line of figures
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"

SCALE=${TORTURE_SCALE:-short}
[[ $SCALE == @(short|full) ]] || fail "TORTURE_SCALE must be short or full"
# make check's second pass (ASan+UBSan) keeps to the cases whose code runs
# nowhere else in the suite: the crash hooks (03), files rewritten while
# read (09), verify --repair in a session (10).  The rest -- kills, link
# cuts, overflows, a full disk, a damaged journal -- go through paths the
# end-to-end scenarios (46, 50, 70, 97, 98) already run under the
# sanitizers, and the suite stays within its time.
if [[ ${GEOREP_ASAN:-0} == 1 && $SCALE == short && ${TORTURE_ASAN_ALL:-0} != 1 ]]; then
	case $(basename "$0") in
	03-*|09-*|10-*) ;;
	*) skip "under the sanitizers only cases 03, 09 and 10 run (TORTURE_ASAN_ALL=1: all)" ;;
	esac
fi
scale() { [[ $SCALE == full ]] && echo "$2" || echo "$1"; }
FSSTRESS=${FSSTRESS:-$(dirname "$GEOREP")/tests/fsstress}
[[ -x $FSSTRESS ]] || fail "no fsstress at $FSSTRESS (make builds it)"
SEED=${SEED:-$RANDOM}; echo "seed $SEED" >&2
export GEOREP_TEST_NO_FSYNC=1
CASE=$(basename "$0" .sh)
CONVERGE=()
OPS=0
STRESS_PID=
STRESS_N=0

stress_start() {
	local dir=$1 seed=$2 rate=${3:-200}
	STRESS_LOG=$T/fsstress.$((++STRESS_N)).log
	"$FSSTRESS" "$dir" --seed "$seed" --seconds 3600 --rate "$rate" \
	    --max-files 3000 >"$STRESS_LOG" 2>&1 &
	STRESS_PID=$!
	at_exit "kill $STRESS_PID 2>/dev/null || true"
}
stress_stop() {
	[[ -n $STRESS_PID ]] || return 0
	kill -TERM "$STRESS_PID" 2>/dev/null || true
	local rc=0
	wait "$STRESS_PID" || rc=$?
	STRESS_PID=
	((rc == 0)) || fail "fsstress failed (exit $rc): $(tail -5 "$STRESS_LOG")"
	local n
	n=$(awk '/^fsstress: [0-9]+ ops in/ { s += $2 } END { print s + 0 }' "$STRESS_LOG")
	OPS=$((OPS + n))
}
# The time of a fault: monotonic milliseconds (/proc/uptime: a case that
# steps the realtime clock measures right too).
fault_time() {
	local up
	read -r up _ </proc/uptime
	echo $((10#${up/./} * 10))
}
# Seconds from the fault at T0 (fault_time) to a completed checkpoint set
# now, into CONVERGE.
fault_converged() {
	local t0=$1 limit=${2:-120} ms
	set_checkpoint
	wait_checkpoint "$limit"
	ms=$(($(fault_time) - t0))
	CONVERGE+=("$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))")
}
# Median and maximum of CONVERGE, "-" when empty.
converge_stats() {
	((${#CONVERGE[@]})) || { echo "converge_median=- converge_max=-"; return; }
	printf '%s\n' "${CONVERGE[@]}" | sort -n | awk '
		{ v[NR] = $1 }
		END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      printf "converge_median=%.3f converge_max=%.3f\n", m, v[NR] }'
}
# The end of every case: the workload stopped, the session converged,
# nothing failed, and both trees the same by verify, both ways.
final_verify() {
	stress_stop
	checkpoint_and_compare 180
	expect_rc 0 G verify --json "$sess"
	local changing
	changing=$("$PY" -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if "summary" in d: print(d["summary"]["changing"])' "$T/out")
	# (After the clock was stepped forward and back, objects changed
	# meanwhile carry times ahead of the clock: FUTURE_CTIMES=1 lets
	# them be unjudged by the session's verify; the pair's judges all.)
	[[ $changing == 0 || ${FUTURE_CTIMES:-0} == 1 ]] ||
		check_failed "verify judged not everything: $changing changing"
	expect_rc 0 G verify "$P" "$S"
	DIFFERENCES=0
}
result() {
	local line="case=$CASE scale=$SCALE seed=$SEED $* ops=$OPS differences=${DIFFERENCES:-?} $(converge_stats)"
	echo "RESULT $line" >&2
	[[ -z ${TORTURE_RESULTS:-} ]] || echo "$line" >>"$TORTURE_RESULTS"
}
# Whether process PID has ended (a zombie too: whoever reaps orphans here
# may be slow, or absent).
pid_gone() {
	[[ $1 =~ ^[1-9][0-9]*$ ]] || fail "pid_gone: not a pid: '$1'"
	! kill -0 "$1" 2>/dev/null ||
	    [[ $(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) == Z ]]
}
# Whether the session is down: no process holds its lock (a worker whose
# monitor was killed holds it until it has ended its turn).
session_down() { [[ $(field "d['pid']") == 0 ]]; }
# The monitor's pid, as the last `G start` printed it.
started_pid() { sed -n 's/^started session .* (pid \([0-9]*\)).*/\1/p' "$T/out"; }
# A session on P -> S with the detector given, started, first crawl done.
session_up() {
	local detector=${1:-inotify}
	shift || true
	expect_rc 0 G create "$sess" "$P" "$S" --config change_detector="$detector" \
	    --config crawl_interval=1h \
	    --config log_level="${TORTURE_LOG_LEVEL:-info}" ${TORTURE_JOBS:+--config sync_jobs=$TORTURE_JOBS} "$@"
	at_exit "G stop $sess >/dev/null 2>&1 || true"
	expect_rc 0 G start "$sess"
	checkpoint_and_compare 120
}
