#!/usr/bin/env bash
# georep benchmark: a first full copy and a no-change re-run of a tree of small
# files, georep against rsync and tar.  The method is in docs/BENCHMARKS.md.
#
# usage: bench/run.sh            (or: make bench)
#
# environment:
#   BENCH_FILES   number of 4 KiB files in the source tree (100000)
#   BENCH_ROUNDS  rounds; every tool runs once per round (5)
#   BENCH_DIR     work area; the generated source is cached here, the
#                 destinations live here while the benchmark runs
#                 (/var/tmp/georep-bench)
#   BENCH_VERIFY  1: compare every copy's listing (names, types, modes, sizes,
#                 mtimes) with the source, and the content of every tool's
#                 first copy; 0: only count files (1)
#   BENCH_SCENARIOS  which scenarios, in order ("initial nochange ssh
#                 verify"; nochange needs initial before it)
#   BENCH_SSH     1: also a first copy over ssh to a loopback sshd of the
#                 benchmark's own (tests/e2e/lib_ssh.sh: its own keys and
#                 config, nothing of the system's): "georep sync --ssh" to
#                 127.0.0.1:DEST against "rsync -aH -e ssh"; 0: not (1)
#   BENCH_DURABLE paired: "rsync -aH; sync" and "tar | tar; sync" are timed in
#                 the runs of rsync and tar (a sync straight after the copy,
#                 timed too); separate: they are runs of their own, which
#                 adds two full copies per round (paired)
#   GEOREP        the binary to measure (build/georep)
#
# Raw times go to bench/results/STAMP-initial.tsv and STAMP-nochange.tsv, the
# printed report to bench/results/STAMP-summary.txt.
set -euo pipefail
export LC_ALL=C

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
note() { printf 'bench: %s\n' "$*" >&2; }

case "${1-}" in
-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
"") ;;
*) die "no arguments expected (see --help); parameters come from the environment" ;;
esac

FILES=${BENCH_FILES:-100000}
ROUNDS=${BENCH_ROUNDS:-5}
DIR=${BENCH_DIR:-/var/tmp/georep-bench}
VERIFY=${BENCH_VERIFY:-1}
DURABLE=${BENCH_DURABLE:-paired}
SSH_BENCH=${BENCH_SSH:-1}
SCENARIOS=${BENCH_SCENARIOS:-initial nochange ssh verify}
FILE_SIZE=4096
PER_DIR=1000		# split -a 3 names at most 1000 files per directory
GEN_VERSION=1		# bump when the generator changes: the cache is rebuilt

[[ $FILES =~ ^[1-9][0-9]*$ ]] || die "BENCH_FILES must be a positive integer"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
[[ $VERIFY == [01] ]] || die "BENCH_VERIFY must be 0 or 1"
[[ $DURABLE == @(paired|separate) ]] || die "BENCH_DURABLE must be paired or separate"
[[ $SSH_BENCH == [01] ]] || die "BENCH_SSH must be 0 or 1"
[[ $DIR == /* && $DIR != / ]] || die "BENCH_DIR must be an absolute path other than /"
((BASH_VERSINFO[0] >= 5)) || die "bash 5 is needed (EPOCHREALTIME)"
for t in rsync tar split find diff; do
	command -v "$t" >/dev/null || die "$t is not installed"
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
GEOREP_IN=${GEOREP:-$REPO/build/georep}
[[ -x $GEOREP_IN ]] || die "$GEOREP_IN not found: run 'make' first"
RESULTS=$REPO/bench/results
STAMP=$(date +%Y%m%d-%H%M%S)

mkdir -p "$DIR" "$RESULTS"
DIR=$(cd "$DIR" && pwd -P)
exec 9>"$DIR/.lock"
flock -n 9 || die "another benchmark is running in $DIR"

SRC=$DIR/src
DST=$DIR/dst		# destinations; never more than one copy per tool
HOMES=$DIR/home		# georep --home directories
LOG=$DIR/last-run.log	# output of the latest timed command
# Measure a private copy of the binary: others may rebuild build/georep while
# this runs.  (georep starts its secondary from /proc/self/exe: the copy.)
GEOREP_BIN=$DIR/georep.bin

AT_EXIT=()
cleanup() {
	local i
	for ((i = ${#AT_EXIT[@]} - 1; i >= 0; i--)); do
		eval "${AT_EXIT[i]}" || true
	done
	rm -rf "${DIR:?}/dst" "${DIR:?}/home" "${DIR:?}/src.tmp" "$GEOREP_BIN" \
	    "$DIR/.times" "${DIR:?}/sshd-bench"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup
cp "$GEOREP_IN" "$GEOREP_BIN"

SUMMARY=$RESULTS/$STAMP-summary.txt
: >"$SUMMARY"
say() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }

# ---------------------------------------------------------------- the machine
machine() {
	local mem cpu fstype mnt
	mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	fstype=$(stat -f -c %T "$DIR")
	mnt=$(findmnt -n -o SOURCE,FSTYPE,OPTIONS --target "$DIR" 2>/dev/null || true)
	say "georep benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	say "machine:  $(nproc) CPUs ($cpu), $mem RAM, kernel $(uname -r)"
	say "BENCH_DIR $DIR: stat -f says '$fstype'; mount: ${mnt:-?}"
	say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	say "georep:   $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')," \
	    "binary sha256 $(sha256sum "$GEOREP_BIN" | cut -c1-16)"
	say "rsync:    $(rsync --version | head -1)"
	say "tar:      $(tar --version | head -1)"
	say "tree:     $FILES files of $FILE_SIZE bytes, $PER_DIR per directory;" \
	    "$ROUNDS rounds; durable rsync/tar variants: $DURABLE"
}

# ----------------------------------------------------------------- the source
# Built once and reused while the parameters stay the same.
make_source() {
	local want d=0 left=$FILES n sub
	want="files=$FILES size=$FILE_SIZE per_dir=$PER_DIR gen=$GEN_VERSION"
	if [[ -d $SRC && -f $DIR/src.params && $(<"$DIR/src.params") == "$want" ]]; then
		n=$(find "$SRC" -type f | wc -l)
		if ((n == FILES)); then
			note "reusing the source tree in $SRC"
			return
		fi
		note "cached source has $n files, not $FILES: regenerating"
	fi
	note "generating $FILES files of $FILE_SIZE random bytes in $SRC"
	rm -rf "$SRC" "$DIR/src.params" "$DIR/src.tmp"
	mkdir "$DIR/src.tmp"
	while ((left > 0)); do
		n=$((left < PER_DIR ? left : PER_DIR))
		printf -v sub '%s/src.tmp/d%04d' "$DIR" "$d"
		mkdir "$sub"
		# n files of FILE_SIZE bytes each, f000 ... f999, all different
		head -c $((n * FILE_SIZE)) /dev/urandom | split -a 3 -d -b "$FILE_SIZE" - "$sub/f"
		left=$((left - n))
		d=$((d + 1))
	done
	mv "$DIR/src.tmp" "$SRC"
	printf '%s\n' "$want" >"$DIR/src.params"
}

# Read the whole source so every tool starts from a warm page cache (the first
# timed run would otherwise pay for reading it from disk).
warm_source() {
	find "$SRC" -type f -print0 | xargs -0 cat >/dev/null
}

# --------------------------------------------------------------------- tools
declare -A LABEL=(
	[georep]="georep sync"
	[georep_nofsync]="georep sync --no-fsync"
	[rsync]="rsync -aH"
	[rsync_sync]="rsync -aH; sync"
	[tar]="tar | tar"
	[tar_sync]="tar | tar; sync"
	[georep_ssh]="georep sync over ssh"
	[rsync_ssh]="rsync -aH -e ssh"
	[georep_verify]="georep verify"
	[rsync_check]="rsync -aHc --dry-run"
)

# run TOOL DEST HOME: the command that is timed
run() {
	local dst=$2 home=$3
	case $1 in
	georep) "$GEOREP_BIN" sync --home "$home" -q "$SRC" "$dst" ;;
	georep_nofsync) "$GEOREP_BIN" sync --home "$home" --no-fsync -q "$SRC" "$dst" ;;
	rsync) rsync -aH "$SRC/" "$dst/" ;;
	rsync_sync) rsync -aH "$SRC/" "$dst/" && sync ;;
	tar) tar -C "$SRC" -cf - . | tar -C "$dst" -xf - ;;
	tar_sync) tar -C "$SRC" -cf - . | tar -C "$dst" -xf - && sync ;;
	georep_ssh) "$GEOREP_BIN" sync --home "$home" -q --ssh "$SSH_CMD" \
	    "$SRC" "$SSH_HOST:$dst" ;;
	rsync_ssh) rsync -aH -e "$SSH_CMD" "$SRC/" "$SSH_HOST:$dst/" ;;
	# Both read every file on both sides; the peak RSS of each run (the
	# largest process of the tree, kB) goes to $DIR/.rss.
	georep_verify) /usr/bin/time -f %M -o "$DIR/.rss" \
	    "$GEOREP_BIN" verify -q "$SRC" "$dst" ;;
	rsync_check) /usr/bin/time -f %M -o "$DIR/.rss" \
	    rsync -aHc --delete --dry-run "$SRC/" "$dst/" ;;
	*) die "unknown tool $1" ;;
	esac
}

# child_cpu: CPU_USER and CPU_SYS are the user and system time, in
# microseconds, of all the children this shell has waited for (the builtin
# 'times' run in this shell: in a subshell it would count from zero)
child_cpu() {
	local user sys
	times >"$DIR/.times"
	{ read -r _; read -r user sys; } <"$DIR/.times"
	mmss_us "$user"; CPU_USER=$US
	mmss_us "$sys"; CPU_SYS=$US
}

# mmss_us 1m2.345s: US is that in microseconds (no subshell: it would be a
# child whose CPU time is counted)
mmss_us() {
	[[ $1 =~ ^([0-9]+)m([0-9]+)\.?([0-9]*)s$ ]] || die "cannot parse times: $1"
	local frac=${BASH_REMATCH[3]}000000
	US=$((10#${BASH_REMATCH[1]} * 60000000 + 10#${BASH_REMATCH[2]} * 1000000 + 10#${frac:0:6}))
}

# timed TOOL DEST HOME: runs it; SECS is its wall time (microsecond
# resolution), USER_S and SYS_S its CPU time (children included), LOAD1 the
# one-minute load average when it started
timed() {
	local rc=0
	read -r LOAD1 _ </proc/loadavg
	child_cpu; CPU0_USER=$CPU_USER CPU0_SYS=$CPU_SYS
	T_BEGIN=$EPOCHREALTIME
	run "$@" >"$LOG" 2>&1 || rc=$?
	T_END=$EPOCHREALTIME
	if ((rc != 0)); then
		cat "$LOG" >&2
		die "${LABEL[$1]} exited with status $rc"
	fi
	measured
}

# timed_sync: a sync straight after the run timed last; the figures are from
# the start of that run to the end of the sync
timed_sync() {
	sync
	T_END=$EPOCHREALTIME
	measured
}

# measured: SECS, USER_S, SYS_S from T_BEGIN, T_END and CPU0_*
measured() {
	child_cpu
	seconds $((10#${T_END/./} - 10#${T_BEGIN/./})); SECS=$S
	seconds $((CPU_USER - CPU0_USER)); USER_S=$S
	seconds $((CPU_SYS - CPU0_SYS)); SYS_S=$S
}

# seconds MICROSECONDS: S is that many seconds, to the microsecond
seconds() {
	printf -v S '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000))
}

# record SCENARIO ROUND POSITION TOOL TSV: one line of raw figures
record() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" \
	    "$SECS" "$USER_S" "$SYS_S" "$LOAD1" >>"$5"
	note "$(printf '%-8s round %d/%d  %-24s %9s s  (cpu %s+%s s, load %s)' \
	    "$1" "$2" "$ROUNDS" "${LABEL[$4]}" "$SECS" "$USER_S" "$SYS_S" "$LOAD1")"
}

# Names, types, modes, mtimes (whole seconds: tar's default format keeps no
# more) and file sizes; georep's .georep/ at the destination's root is skipped.
listing() {
	find "$1" -mindepth 1 -path "$1/.georep" -prune -o \
	    -type f -printf '%P\tf\t%m\t%Ts\t%s\n' -o \
	    -printf '%P\t%y\t%m\t%Ts\n' | sort
}

SRC_LISTING=$DIR/src.listing

# verify TOOL DEST FULL: the copy matches the source; FULL also compares content
verify() {
	local n
	if ((VERIFY)); then
		listing "$2" | cmp -s - "$SRC_LISTING" ||
		    die "${LABEL[$1]}: $2 differs from the source (names, modes, mtimes or sizes)"
		if (($3)); then
			diff -rq -x .georep "$SRC" "$2" >/dev/null ||
			    die "${LABEL[$1]}: content of $2 differs from the source"
		fi
	else
		n=$(find "$2" -path "$2/.georep" -prune -o -type f -print | wc -l)
		((n == FILES)) || die "${LABEL[$1]}: $2 holds $n files, not $FILES"
	fi
}

# fresh_dest TOOL: remove TOOL's previous destination (and index); the
# others' stay until their own next run (the nochange scenario reuses them)
fresh_dest() {
	rm -rf "${DST:?}/$1" "${HOMES:?}/$1"
	mkdir -p "$DST" "$HOMES"
	case $1 in
	tar*) mkdir "$DST/$1" ;;	# tar -C needs it; the others create it
	esac
}

# ---------------------------------------------------------------- statistics
# summarize TSV REF...: median, min, max per tool, and ratios of the medians to
# those of the REF tools.  Tools appear in the order of their first line.
summarize() {
	local tsv=$1; shift
	awk -F'\t' -v refs="$*" -v labels="$(for k in "${!LABEL[@]}"; do
		printf '%s=%s\034' "$k" "${LABEL[$k]}"; done)" '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++)	# insertion sort: a handful of values
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	BEGIN {
		nl = split(labels, l, "\034")
		for (i = 1; i <= nl; i++)
			if ((p = index(l[i], "=")) > 0)
				label[substr(l[i], 1, p - 1)] = substr(l[i], p + 1)
		nr = split(refs, ref, " ")
	}
	NR > 1 {
		if (!($4 in cnt)) order[++ntools] = $4
		cnt[$4]++
		v[$4, cnt[$4]] = $5
	}
	END {
		for (k = 1; k <= ntools; k++) {
			t = order[k]; n = cnt[t]
			for (i = 1; i <= n; i++) a[i] = v[t, i]
			lo = hi = a[1]
			for (i = 2; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
			med[t] = median(a, n); mn[t] = lo; mx[t] = hi
			delete a
		}
		printf "%-24s %9s %9s %9s", "tool", "median s", "min s", "max s"
		for (i = 1; i <= nr; i++) printf " %10s", "/" ref[i]
		printf "\n"
		for (k = 1; k <= ntools; k++) {
			t = order[k]
			printf "%-24s %9.3f %9.3f %9.3f", label[t], med[t], mn[t], mx[t]
			for (i = 1; i <= nr; i++)
				if (med[ref[i]] > 0) printf " %9.2fx", med[t] / med[ref[i]]
				else printf " %10s", "-"
			printf "\n"
		}
	}' "$tsv"
}

TSV_HEADER=$'scenario\tround\tposition\ttool\tseconds\tuser_s\tsys_s\tload1'

# ------------------------------------------------------------------ scenarios
# initial: a full first copy into an absent (tar: empty) destination.
scenario_initial() {
	local tools n r k tool t0 t1 us left
	if [[ $DURABLE == paired ]]; then
		tools=(georep georep_nofsync rsync tar)
	else
		tools=(georep georep_nofsync rsync rsync_sync tar tar_sync)
	fi
	n=${#tools[@]}
	local tsv=$RESULTS/$STAMP-initial.tsv
	printf '%s\n' "$TSV_HEADER" >"$tsv"
	warm_source
	t0=$EPOCHREALTIME
	for ((r = 1; r <= ROUNDS; r++)); do
		for ((k = 0; k < n; k++)); do
			# each round starts one tool later, so no tool always runs
			# first (or right after the same neighbour)
			tool=${tools[(k + r - 1) % n]}
			fresh_dest "$tool"
			sync			# untimed: no earlier dirty data
			timed "$tool" "$DST/$tool" "$HOMES/$tool"
			record initial "$r" $((k + 1)) "$tool" "$tsv"
			if [[ $DURABLE == paired && $tool == @(rsync|tar) ]]; then
				# "TOOL; sync": the same run, plus a sync timed
				# straight after it
				timed_sync
				record initial "$r" $((k + 1)) "${tool}_sync" "$tsv"
			fi
			verify "$tool" "$DST/$tool" $((r == 1))
		done
		if ((r == 1 && ROUNDS > 1)); then
			t1=$EPOCHREALTIME
			us=$((10#${t1/./} - 10#${t0/./}))
			left=$(( us * (ROUNDS - 1) / 1000000 ))
			note "round 1 took $((us / 1000000)) s: about $left s of initial rounds to go"
		fi
	done
	say ""
	say "scenario 'initial': a full first copy into a fresh destination (fresh --home for georep)"
	summarize "$tsv" georep tar | tee -a "$SUMMARY"
}

# nochange: the same command again on the destination (and index) of its own
# last full copy in 'initial', nothing changed in the source.
scenario_nochange() {
	local tools=(georep georep_nofsync rsync)
	local tsv=$RESULTS/$STAMP-nochange.tsv n=${#tools[@]} r k tool
	printf '%s\n' "$TSV_HEADER" >"$tsv"
	rm -rf "$DST"/tar*
	for tool in "${tools[@]}"; do
		[[ -d $DST/$tool ]] || die "no full copy by ${LABEL[$tool]} to start from"
	done
	warm_source
	for ((r = 1; r <= ROUNDS; r++)); do
		for ((k = 0; k < n; k++)); do
			tool=${tools[(k + r - 1) % n]}
			sync			# untimed
			timed "$tool" "$DST/$tool" "$HOMES/$tool"
			record nochange "$r" $((k + 1)) "$tool" "$tsv"
		done
	done
	for tool in "${tools[@]}"; do
		verify "$tool" "$DST/$tool" 0
	done
	rm -rf "$DST" "$HOMES"
	say ""
	say "scenario 'nochange': the same command again, nothing changed in the source"
	summarize "$tsv" georep | tee -a "$SUMMARY"
}

# verify: a whole comparison of a replica with its source, content
# included: georep verify against rsync -aHc --delete --dry-run (a checksum
# of every file on both sides).  The replica is made once (untimed) by
# georep sync; both tools find it identical (georep verify exits 1 on a
# difference, which stops the benchmark).  BENCH_VERIFY_COLD=1 drops the
# page cache before each run (root), so both read from the disk.
scenario_verify() {
	local tools=(georep_verify rsync_check) n=2 r k tool rss
	local tsv=$RESULTS/$STAMP-verify.tsv
	printf '%s\n' "$TSV_HEADER" >"$tsv"
	fresh_dest verify
	"$GEOREP_BIN" sync --home "$HOMES/verify" -q --no-fsync "$SRC" \
	    "$DST/verify" || die "georep sync for the verify scenario failed"
	warm_source
	for ((r = 1; r <= ROUNDS; r++)); do
		for ((k = 0; k < n; k++)); do
			tool=${tools[(k + r - 1) % n]}
			sync
			if [[ ${BENCH_VERIFY_COLD:-0} == 1 ]]; then
				echo 3 >/proc/sys/vm/drop_caches ||
				    die "BENCH_VERIFY_COLD=1 needs root"
			fi
			timed "$tool" "$DST/verify" ""
			record verify "$r" $((k + 1)) "$tool" "$tsv"
			rss=$(tail -1 "$DIR/.rss")
			note "$(printf '%-8s round %d/%d  %-24s peak RSS %s kB' \
			    verify "$r" "$ROUNDS" "${LABEL[$tool]}" "$rss")"
			printf '%s\t%s\t%s\n' "$r" "$tool" "$rss" \
			    >>"$RESULTS/$STAMP-verify-rss.tsv"
		done
	done
	rm -rf "${DST:?}/verify" "${HOMES:?}/verify"
	say ""
	say "scenario 'verify': compare a replica with its source, content included ($([[ ${BENCH_VERIFY_COLD:-0} == 1 ]] && echo "cold page cache" || echo "warm page cache"))"
	summarize "$tsv" georep_verify rsync_check | tee -a "$SUMMARY"
	local t med
	for t in "${tools[@]}"; do
		med=$(awk -F'\t' -v t="$t" '$2 == t { print $3 }' \
		    "$RESULTS/$STAMP-verify-rss.tsv" | sort -n |
		    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
		say "peak RSS of ${LABEL[$t]} (median, the largest process): $med kB"
	done
}

# ssh: a first copy over ssh, to an sshd of the benchmark's own on
# 127.0.0.1 (the one the tests use: tests/e2e/lib_ssh.sh).  Both tools pay
# for one ssh connection each; the remote shell is the account's (root's:
# its startup files run once per connection, for both).
scenario_ssh() {
	local tools=(georep_ssh rsync_ssh) n=2 r k tool
	local tsv=$RESULTS/$STAMP-ssh.tsv
	# What lib_ssh.sh expects of the tests' harness.
	T=$DIR/sshd-bench GEOREP=$GEOREP_BIN
	fail() { die "ssh: $*"; }
	skip() { die "ssh: $* (BENCH_SSH=0 leaves this scenario out)"; }
	at_exit() { AT_EXIT+=("$1"); }
	rm -rf "$T"
	mkdir -p "$T"
	# shellcheck source=../tests/e2e/lib_ssh.sh
	source "$REPO/tests/e2e/lib_ssh.sh"
	ssh_setup 2>>"$LOG"
	printf '%s\n' "$TSV_HEADER" >"$tsv"
	warm_source
	for ((r = 1; r <= ROUNDS; r++)); do
		for ((k = 0; k < n; k++)); do
			tool=${tools[(k + r - 1) % n]}
			fresh_dest "$tool"
			sync
			timed "$tool" "$DST/$tool" "$HOMES/$tool"
			record ssh "$r" $((k + 1)) "$tool" "$tsv"
			verify "$tool" "$DST/$tool" $((r == 1))
		done
	done
	rm -rf "$DST" "$HOMES"
	say ""
	say "scenario 'ssh': a first copy over ssh to a loopback sshd ($SSH_CMD)"
	summarize "$tsv" georep_ssh rsync_ssh | tee -a "$SUMMARY"
}

# ----------------------------------------------------------------------- main
T_START=$EPOCHREALTIME
machine
make_source
listing "$SRC" >"$SRC_LISTING"
for sc in $SCENARIOS; do
	case $sc in
	initial) scenario_initial ;;
	nochange) scenario_nochange ;;
	ssh) ((SSH_BENCH == 0)) || scenario_ssh ;;
	verify) scenario_verify ;;
	*) die "BENCH_SCENARIOS: unknown scenario $sc" ;;
	esac
done
say ""
say "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
say "benchmark wall time: $(( (10#${EPOCHREALTIME/./} - 10#${T_START/./}) / 1000000 )) s"
say "raw times: $RESULTS/$STAMP-initial.tsv, $RESULTS/$STAMP-nochange.tsv${SSH_BENCH:+, $RESULTS/$STAMP-ssh.tsv}"
