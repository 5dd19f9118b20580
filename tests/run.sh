#!/usr/bin/env bash
# The georep test suite: unit binaries, then end-to-end scenarios.
#
#   GEOREP=/abs/build/georep UNIT_BIN="build/tests/test_a ..." \
#       tests/run.sh [--unit|--e2e] [-k|--keep] [PATTERN...]
#
# Each unit binary (cmocka) is one test: it passes when it exits 0.  Each
# tests/e2e/NN-*.sh scenario, and each tests/torture/NN-*.sh case (named
# torture-NN-..., short unless TORTURE_SCALE=full: tests/torture/lib.sh),
# runs with bash in a fresh scratch directory
# under ${TMPDIR:-/tmp} (removed when it passes, kept and named when it
# fails), under a timeout ($E2E_TIMEOUT seconds, default 300).  A PATTERN
# (a shell glob or a substring) keeps only the tests whose name matches.
# One line per test, "ok NAME (Ns)" or "FAIL NAME", then "N passed, N failed".
# E2E_JOBS=N runs the scenarios in N lanes (see run_e2e).
# A scenario that exits 77 is skipped ("skip NAME: reason"), counted in
# neither.  Exit status: 0 when nothing failed.

set -u
cd "$(dirname "$0")/.." || exit 2
repo=$PWD

mode=all
keep=0
patterns=()
while (($#)); do
	case $1 in
	--unit) mode=unit ;;
	--e2e) mode=e2e ;;
	-k | --keep) keep=1 ;;
	-h | --help)
		sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	--) shift; patterns+=("$@"); break ;;
	-*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	*) patterns+=("$1") ;;
	esac
	shift
done

GEOREP=${GEOREP:-$repo/build/georep}
case $GEOREP in /*) ;; *) GEOREP=$repo/$GEOREP ;; esac
export GEOREP
timeout_s=${E2E_TIMEOUT:-300}
tmp=${TMPDIR:-/tmp}
passed=0
failed=0
selected=0

matches() {
	local name=$1 p
	((${#patterns[@]} == 0)) && return 0
	for p in "${patterns[@]}"; do
		# shellcheck disable=SC2053
		[[ $name == $p || $name == *"$p"* ]] && return 0
	done
	return 1
}

# Unmount whatever a killed scenario left mounted under its scratch dir.
unmount_under() {
	local dir=$1 m
	while read -r m; do
		umount -l "$m" 2>/dev/null
	done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts |
		sort -r)
}

show_tail() {
	local file=$1 n
	n=$(wc -l <"$file")
	if ((n > 80)); then
		echo "    ... ($((n - 80)) earlier lines in $file)"
	fi
	tail -n 80 "$file" | sed 's/^/    /'
}

run_unit() {
	local bin name start rc log scratch
	for bin in ${UNIT_BIN:-}; do
		name=$(basename "$bin")
		matches "$name" || continue
		selected=$((selected + 1))
		scratch=$(mktemp -d "$tmp/georep-unit.$name.XXXXXX")
		log=$scratch/log
		start=$SECONDS
		rc=0
		case $bin in /*) ;; *) bin=$repo/$bin ;; esac
		TMPDIR=$scratch timeout -k 10 "$timeout_s" "$bin" \
			>"$log" 2>&1 </dev/null || rc=$?
		if ((rc == 0)); then
			echo "ok $name ($((SECONDS - start))s)"
			passed=$((passed + 1))
			rm -rf "$scratch"
		else
			echo "FAIL $name"
			echo "    exit status $rc$( ((rc == 124)) && echo " (timed out after ${timeout_s}s)")"
			head -n 400 "$log" | sed 's/^/    /'
			failed=$((failed + 1))
			rm -rf "$scratch"
		fi
	done
}

# One scenario: its line on stdout ("ok", "skip" or "FAIL" with the tail
# of its log), and its result in $results/NAME (ok, skip or fail).
# Seconds since boot: durations that a step of the realtime clock (the
# clock-steps torture case) does not bend, as $SECONDS would.
uptime_s() {
	local up rest
	read -r up rest </proc/uptime
	echo "${up%.*}"
}

run_one() {
	local script=$1 name=$2 start rc scratch log out
	scratch=$(mktemp -d "$tmp/georep-e2e.$name.XXXXXX")
	log=$scratch.log
	out=$scratch.out
	start=$(uptime_s)
	rc=0
	T=$scratch timeout -k 10 "$timeout_s" bash "$repo/$script" \
		>"$log" 2>&1 </dev/null || rc=$?
	unmount_under "$scratch"
	if ((rc == 0)); then
		echo "ok $name ($(($(uptime_s) - start))s)" >"$out"
		echo ok >"$results/$name"
		if ((keep)); then
			mv "$log" "$scratch/log"
		else
			rm -rf --one-file-system "$scratch" "$log"
		fi
	elif ((rc == 77)) && grep -q '^SKIP:' "$log"; then
		# 77 without the line of skip() is not a skip (libFuzzer's
		# default exit status for a crash is 77 too).
		echo "skip $name: $(grep -m1 '^SKIP:' "$log" | sed 's/^SKIP: //')" >"$out"
		echo skip >"$results/$name"
		rm -rf --one-file-system "$scratch" "$log"
	else
		mv "$log" "$scratch/log"
		{
			echo "FAIL $name"
			echo "    exit status $rc$( ((rc == 124)) && echo " (timed out after ${timeout_s}s)"), $(($(uptime_s) - start))s"
			if (($(wc -l <"$scratch/log") > 80)); then
				grep -m1 -E '^seed [0-9]+' "$scratch/log" | sed 's/^/    /'
			fi
			show_tail "$scratch/log"
			echo "    scratch kept: $scratch (log: $scratch/log)"
		} >"$out"
		echo fail >"$results/$name"
	fi
	# One block at a time on stdout, whichever lane finished.
	flock "$results/.lock" cat "$out"
	rm -f "$out"
}

# The scenarios, in order; with E2E_JOBS=N (N > 1), N lanes take them
# from one queue, except those with a line "# run.sh: alone" in their
# first 40 lines (what they change is the whole machine's, such as the
# realtime clock), which run after the others, one at a time.
run_e2e() {
	local script name jobs=${E2E_JOBS:-1} lane
	local -a queue=() alone=()
	results=$(mktemp -d "$tmp/georep-results.XXXXXX")
	: >"$results/.lock"
	for script in tests/e2e/[0-9][0-9]-*.sh tests/torture/[0-9][0-9]-*.sh; do
		[[ -e $script ]] || continue
		name=$(basename "$script" .sh)
		[[ $script != tests/torture/* ]] || name=torture-$name
		matches "$name" || continue
		selected=$((selected + 1))
		if ((jobs > 1)) && head -40 "$script" | grep -q '^# run.sh: alone'; then
			alone+=("$script:$name")
		else
			queue+=("$script:$name")
		fi
	done
	if ((jobs > 1)); then
		printf '%s\n' "${queue[@]}" >"$results/.queue"
		: >"$results/.taken"
		for ((lane = 0; lane < jobs; lane++)); do
			lane_loop &
		done
		wait
	else
		for entry in "${queue[@]}"; do
			run_one "${entry%%:*}" "${entry#*:}"
		done
	fi
	for entry in "${alone[@]}"; do
		run_one "${entry%%:*}" "${entry#*:}"
	done
	passed=$((passed + $(grep -lx ok "$results"/* 2>/dev/null | wc -l)))
	failed=$((failed + $(grep -lx fail "$results"/* 2>/dev/null | wc -l)))
	rm -rf "$results"
}

# A lane: the next scenario of the queue not taken yet, until none is left.
lane_loop() {
	local entry
	while :; do
		entry=$(flock "$results/.lock" bash -c '
			n=$(wc -l <"$1/.taken")
			e=$(sed -n "$((n + 1))p" "$1/.queue")
			[[ -n $e ]] && echo "$e" >>"$1/.taken"
			echo "$e"' _ "$results")
		[[ -n $entry ]] || return 0
		run_one "${entry%%:*}" "${entry#*:}"
	done
}

if [[ $mode != unit && ! -x $GEOREP ]]; then
	echo "run.sh: $GEOREP is not executable (make first)" >&2
	exit 2
fi
case $mode in
all) run_unit; run_e2e ;;
unit) run_unit ;;
e2e) run_e2e ;;
esac

if ((${#patterns[@]} && selected == 0)); then
	echo "run.sh: no test matches: ${patterns[*]}" >&2
	echo "$passed passed, $failed failed"
	exit 1
fi
echo "$passed passed, $failed failed"
((failed == 0))
