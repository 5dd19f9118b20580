#!/usr/bin/env bash
# georep replication-lag benchmark: the time from a write on the primary to
# identical content on the secondary, georep's continuous daemon next to
# lsyncd (default settings, and delay = 0) in the same run.
#
# usage: bench/lag.sh            (as root: georep's fanotify needs it)
#
# Scenarios (bench/lagprobe.c measures; see its header for the method):
#   single    one write at a time on a quiet primary, the next 50 ms after
#             the previous one showed on the secondary
#   rate100   writes paced at 100 per second (half new files, half overwrites,
#             1-4 KiB, over 16 directories)
#   rate1000  the same at 1,000 per second
#   burst     10,000 new files as fast as the writer can; the time from the
#             first write until ALL of them are on the secondary
# Variants, each run once per scenario and round, rounds interleaved:
#   georep-fanotify, georep-inotify   georep create --config change_detector=...,
#             start, a checkpoint to wait for the first copy; the detector
#             georep actually used is printed (status --json change_detector)
#   lsyncd-default   sync { default.rsync } (delay 15 s)
#   lsyncd-delay0    the same with delay = 0
# Every run has a fresh primary (a copy of a base tree of 16 directories of
# 100 files) and a fresh, empty secondary; the replicator copies the base tree,
# the run starts once the secondary equals the primary.
#
# lsyncd-default waits 15 s before it syncs, so its single scenario runs
# LAG_SINGLE_SLOW writes instead of LAG_SINGLE; a full run (3 rounds) takes
# about 15 minutes on 2 CPUs (lsyncd-default alone about 6).
#
# environment:
#   ROUNDS         rounds (3)
#   LAG_VARIANTS   variants to run, in order ("georep-fanotify georep-inotify
#                  lsyncd-default lsyncd-delay0")
#   LAG_SCENARIOS  scenarios to run ("single rate100 rate1000 burst")
#   LAG_SINGLE     writes in single (20); LAG_SINGLE_SLOW for lsyncd-default (3)
#   LAG_RATE100    writes in rate100 (1000, 10 s)
#   LAG_RATE1000   writes in rate1000 (5000, 5 s)
#   LAG_BURST      files in burst (10000)
#   LAG_DEADLINE   seconds to wait after the last write before a write counts
#                  as missing (60)
#   GEOREP_CONFIG  more georep --config KEY=VALUE, space-separated
#                  (e.g. "crawl_interval=1s" while georep has only crawl mode)
#   LAG_LOGS       keep each georep run's session log in this directory
#   BENCH_DIR      work area (a new directory under /tmp)
#   LAG_FS=ext4    run on a fresh ext4 (with a journal) made in an 8 GiB
#                  sparse image under /tmp and loop-mounted for the run: the
#                  results no longer depend on the state of the host's
#                  filesystem (see docs/BENCHMARKS.md: a journal-less ext4
#                  with many recently deleted inodes makes every create slow)
#   GEOREP         the binary to measure (build/georep)
#
# Raw probe lines and the summary (medians across rounds, ratios georep /
# lsyncd, the targets) go to bench/results/lag-STAMP.txt.
set -euo pipefail
export LC_ALL=C

die() { printf 'lag: %s\n' "$*" >&2; exit 1; }
note() { printf 'lag: %s\n' "$*" >&2; }

case "${1-}" in
-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
"") ;;
*) die "no arguments expected (see --help); parameters come from the environment" ;;
esac

ROUNDS=${ROUNDS:-3}
VARIANTS=${LAG_VARIANTS:-georep-fanotify georep-inotify lsyncd-default lsyncd-delay0}
SCENARIOS=${LAG_SCENARIOS:-single rate100 rate1000 burst}
N_SINGLE=${LAG_SINGLE:-20}
N_SINGLE_SLOW=${LAG_SINGLE_SLOW:-3}
N_RATE100=${LAG_RATE100:-1000}
N_RATE1000=${LAG_RATE1000:-5000}
N_BURST=${LAG_BURST:-10000}
DEADLINE=${LAG_DEADLINE:-60}
READY_DEADLINE=120	# seconds for the first copy of the base tree

for v in ROUNDS N_SINGLE N_SINGLE_SLOW N_RATE100 N_RATE1000 N_BURST DEADLINE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
for v in $VARIANTS; do
	[[ $v == @(georep-fanotify|georep-inotify|georep-crawl|lsyncd-default|lsyncd-delay0) ]] ||
	    die "unknown variant $v"
done
for s in $SCENARIOS; do
	[[ $s == @(single|rate100|rate1000|burst) ]] || die "unknown scenario $s"
done
((EUID == 0)) || die "run as root (georep's fanotify detector needs CAP_SYS_ADMIN)"
for t in cc lsyncd rsync jq diff; do
	command -v "$t" >/dev/null || die "$t is not installed"
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
GEOREP_IN=${GEOREP:-$REPO/build/georep}
[[ -x $GEOREP_IN ]] || die "$GEOREP_IN not found: run 'make' first"
RESULTS=$REPO/bench/results
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$RESULTS/lag-$STAMP.txt

LOOP_IMG='' LOOP_DIR=''
if [[ ${LAG_FS-} == ext4 ]]; then
	LOOP_IMG=$(mktemp /tmp/georep-lag-fs.XXXXXX)
	LOOP_DIR=$(mktemp -d /tmp/georep-lag-mnt.XXXXXX)
	truncate -s 8G "$LOOP_IMG"
	mkfs.ext4 -q -F "$LOOP_IMG" || die "mkfs.ext4 $LOOP_IMG failed"
	mount -o loop "$LOOP_IMG" "$LOOP_DIR" ||
	    { rm -f "$LOOP_IMG"; rmdir "$LOOP_DIR"; die "cannot loop-mount $LOOP_IMG"; }
	BENCH_DIR=$LOOP_DIR
elif [[ -n ${LAG_FS-} ]]; then
	die "LAG_FS: only 'ext4' is known"
fi
if [[ -n ${BENCH_DIR-} ]]; then
	mkdir -p "$BENCH_DIR"
	W=$(mktemp -d "$BENCH_DIR/lag.XXXXXX")
else
	W=$(mktemp -d /tmp/georep-lag.XXXXXX)
fi
P=$W/primary
S=$W/secondary
H=$W/home			# georep --home of the current run
PROBE=$W/lagprobe
G=$W/georep.bin		# a private copy: others may rebuild build/georep
RAW=$W/raw.tsv
LSYNCD_PID=
GEOREP_UP=0

cleanup() {
	if [[ -n $LSYNCD_PID ]]; then
		kill "$LSYNCD_PID" 2>/dev/null || true
		wait "$LSYNCD_PID" 2>/dev/null || true
	fi
	if ((GEOREP_UP)); then
		"$G" stop lag --home "$H" >/dev/null 2>&1 || true
	fi
	rm -rf "${W:?}"
	if [[ -n $LOOP_DIR ]]; then
		umount "$LOOP_DIR" && rmdir "$LOOP_DIR" && rm -f "$LOOP_IMG"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp "$GEOREP_IN" "$G"
cc -O2 -Wall -Wextra -o "$PROBE" "$REPO/bench/lagprobe.c" -lpthread -lm ||
    die "cannot build bench/lagprobe.c"
"$PROBE" init "$W/base"
mkdir -p "$RESULTS"

# now as seconds since the epoch, fractional
now() { printf '%s' "$EPOCHREALTIME"; }
past() { awk -v a="$(now)" -v b="$1" 'BEGIN { exit !(a > b) }'; }

# Poll until the secondary holds the primary's tree (content and names;
# georep's own .georep aside), or fail after READY_DEADLINE seconds.
wait_same() {
	local until
	until=$(awk -v t="$(now)" -v d="$READY_DEADLINE" 'BEGIN { printf "%.3f", t + d }')
	until diff -rq -x .georep "$P" "$S" >/dev/null 2>&1; do
		past "$until" && { diff -rq -x .georep "$P" "$S" | head >&2; return 1; }
		sleep 0.1
	done
}

# ---- georep ----

georep_start() {	# detector
	local det=$1 kv cfg=() until done_ state
	for kv in ${GEOREP_CONFIG-}; do cfg+=(--config "$kv"); done
	rm -rf "$H"
	"$G" create lag "$P" "$S" --home "$H" --config "change_detector=$det" \
	    "${cfg[@]}" >/dev/null || return 1
	"$G" start lag --home "$H" >/dev/null || return 1
	GEOREP_UP=1
	"$G" checkpoint lag now --home "$H" >/dev/null || return 1
	until=$(awk -v t="$(now)" -v d="$READY_DEADLINE" 'BEGIN { printf "%.3f", t + d }')
	while :; do
		done_=$("$G" status lag --json --home "$H" 2>/dev/null |
		    jq -r '.checkpoint.completed' 2>/dev/null || true)
		[[ $done_ == true ]] && break
		if past "$until"; then
			note "georep: the checkpoint did not complete in ${READY_DEADLINE}s"
			"$G" status lag --home "$H" >&2 || true
			return 1
		fi
		sleep 0.1
	done
	wait_same || { note "georep: checkpoint complete, but the trees differ"; return 1; }
	state=$("$G" status lag --json --home "$H")
	DETECTOR=$(jq -r '.change_detector // .detector // "?"' <<<"$state")
	STATE=$(jq -r '.state' <<<"$state")
}

georep_stop() {
	local st
	st=$("$G" status lag --json --home "$H" 2>/dev/null || true)
	FAILS=$(jq -r '.failures.count // 0' <<<"$st" 2>/dev/null || echo '?')
	"$G" stop lag --home "$H" >/dev/null || note "georep stop failed"
	GEOREP_UP=0
	if [[ -n ${LAG_LOGS-} ]]; then
		mkdir -p "$LAG_LOGS"
		cp "$H/sessions/lag/log" "$LAG_LOGS/$(date +%H%M%S)-$RUN_TAG.log" ||
			true
	fi
	if [[ $FAILS != 0 ]]; then
		note "georep reported $FAILS failures:"
		jq -c '.failures' <<<"$st" >&2 || true
	fi
	"$G" delete lag --home "$H" >/dev/null || note "georep delete failed"
}

# ---- lsyncd ----

lsyncd_start() {	# extra settings for sync{}
	local extra=$1 conf=$W/lsyncd.conf until
	cat >"$conf" <<-EOF
	settings {
		nodaemon = true,
		insist = true,
		logfile = "$W/lsyncd.log",
	}
	sync {
		default.rsync,
		source = "$P",
		target = "$S",
		$extra
	}
	EOF
	: >"$W/lsyncd.log"
	lsyncd "$conf" >>"$W/lsyncd.out" 2>&1 &
	LSYNCD_PID=$!
	# Ready: the start-up rsync is over (lsyncd has no child) and the trees
	# are equal.
	until=$(awk -v t="$(now)" -v d="$READY_DEADLINE" 'BEGIN { printf "%.3f", t + d }')
	while :; do
		kill -0 "$LSYNCD_PID" 2>/dev/null || { note "lsyncd exited:"; tail "$W/lsyncd.out" "$W/lsyncd.log" >&2; return 1; }
		if [[ -z $(ps -o pid= --ppid "$LSYNCD_PID") ]] &&
		    diff -rq "$P" "$S" >/dev/null 2>&1; then
			break
		fi
		past "$until" && { note "lsyncd: no first copy in ${READY_DEADLINE}s"; return 1; }
		sleep 0.1
	done
	DETECTOR=inotify
	STATE=-
}

lsyncd_stop() {
	kill "$LSYNCD_PID" 2>/dev/null || true
	wait "$LSYNCD_PID" 2>/dev/null || true
	LSYNCD_PID=
	FAILS=0
}

# ---- one run ----

probe_args() {	# variant scenario
	case $2 in
	single)
		if [[ $1 == lsyncd-default ]]; then
			echo "-w 30 single $P $S $N_SINGLE_SLOW"
		else
			echo "-w 30 single $P $S $N_SINGLE"
		fi ;;
	rate100) echo "rate $P $S 100 $N_RATE100" ;;
	rate1000) echo "rate $P $S 1000 $N_RATE1000" ;;
	burst) echo "burst $P $S $N_BURST" ;;
	esac
}

run() {	# round variant scenario
	local round=$1 v=$2 sc=$3 line rc=0
	RUN_TAG=$round-$sc-$v
	rm -rf "$P" "$S"
	cp -a "$W/base" "$P"
	DETECTOR='?' STATE='?' FAILS='?'
	case $v in
	georep-*) georep_start "${v#georep-}" || rc=1 ;;
	lsyncd-default) mkdir "$S"; lsyncd_start "" || rc=1 ;;
	lsyncd-delay0) mkdir "$S"; lsyncd_start "delay = 0," || rc=1 ;;
	esac
	if ((rc == 0)); then
		# shellcheck disable=SC2046
		line=$("$PROBE" -d "$DEADLINE" $(probe_args "$v" "$sc")) || rc=1
	fi
	if ((GEOREP_UP)); then
		georep_stop
	fi
	if [[ -n $LSYNCD_PID ]]; then
		lsyncd_stop
	fi
	((rc == 0)) || line="error=setup"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$sc" "$v" "$DETECTOR" \
	    "$FAILS" "$line" >>"$RAW"
	printf 'round %s %-9s %-16s detector=%s state=%s %s\n' "$round" "$sc" \
	    "$v" "$DETECTOR" "$STATE" "$line" >&2
}

note "work area $W; results to $OUT"
# What is measured: the binary's checksum, and the commit of the tree it sits
# in (dirty: that tree has uncommitted changes; they may be in the binary).
GEOREP_ID="$GEOREP_IN, sha256 $(sha256sum "$G" | cut -c1-12), tree $(git -C "$(dirname "$GEOREP_IN")" describe --always --dirty 2>/dev/null || echo '?')"
note "georep: $GEOREP_ID"
note "lsyncd: $(lsyncd --version | head -1); rsync: $(rsync --version | head -1)"
T0=$(now)
read -r -a VLIST <<<"$VARIANTS"
for ((r = 1; r <= ROUNDS; r++)); do
	for sc in $SCENARIOS; do
		# the variants' order turns from round to round
		n=${#VLIST[@]}
		for ((i = 0; i < n; i++)); do
			run "$r" "${VLIST[(i + r - 1) % n]}" "$sc"
		done
	done
done
ELAPSED=$(awk -v a="$(now)" -v b="$T0" 'BEGIN { printf "%.0f", a - b }')

# ---- summary ----

summary() {
	echo "georep replication lag, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(hostname)"
	echo "georep: $GEOREP_ID"
	echo "lsyncd $(lsyncd --version | awk '{print $2; exit}'), $(rsync --version | head -1 | awk '{print $1, $2, $3}')"
	echo "$(nproc) CPUs, kernel $(uname -r), work area on $(findmnt -n -o FSTYPE -T "$W")"
	echo "rounds $ROUNDS; single $N_SINGLE writes ($N_SINGLE_SLOW for lsyncd-default), rate100 $N_RATE100, rate1000 $N_RATE1000, burst $N_BURST files; deadline ${DEADLINE}s; GEOREP_CONFIG='${GEOREP_CONFIG-}'; ${ELAPSED}s in all"
	echo "work area $W on $(df -T "$W" | awk 'NR == 2 { print $2, $1 }')${LAG_FS:+ (LAG_FS=$LAG_FS)}"
	echo
	echo "Medians across rounds of each run's figures (ms). all = burst: from the first"
	echo "write until the last file is on the secondary (notes: how long the writing"
	echo "took, then how long after the last write). missing: writes not on the"
	echo "secondary ${DEADLINE}s after the last write (summed over rounds); swept: found by"
	echo "the probe's sweep, not by its inotify event; ovfl: the probe's own inotify"
	echo "queue overflowed (summed)."
	echo
	awk -F'\t' -v scen="$SCENARIOS" -v vars="$VARIANTS" '
	function val(s, k,   a, i, n, kv) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) {
			split(a[i], kv, "=")
			if (kv[1] == k) return kv[2]
		}
		return ""
	}
	function num(x) { return x == "inf" ? 1e18 : (x == "" ? -1 : x + 0) }
	function show(x) { return x >= 1e18 ? "inf" : (x < 0 ? "-" : sprintf("%.1f", x)) }
	function median(list,   a, n, i, j, t) {
		n = split(list, a, " ")
		if (n == 0) return -1
		for (i = 1; i <= n; i++) a[i] = num(a[i])
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{
		k = $2 SUBSEP $3
		if (!(k in runs)) runs[k] = 0
		runs[k]++
		if (!(k in det)) det[k] = $4
		else if (index("," det[k] ",", "," $4 ",") == 0) det[k] = det[k] "," $4
		if ($6 ~ /^error/) { err[k]++; next }
		for (f = 1; f <= 7; f++) {
			name = (f == 1 ? "p50_ms" : f == 2 ? "p99_ms" : f == 3 ? "max_ms" : f == 4 ? "all_ms" : f == 5 ? "rate" : f == 6 ? "write_ms" : "after_ms")
			x = val($6, name)
			if (x != "") v[k, name] = v[k, name] " " x
		}
		miss[k] += val($6, "missing")
		swept[k] += val($6, "swept")
		ovf[k] += val($6, "overflows")
		if ($5 != "0" && $5 != "?") fails[k] += $5
	}
	END {
		ns = split(scen, S, " "); nv = split(vars, V, " ")
		printf "%-9s %-16s %-9s %9s %9s %9s %9s %7s %7s %5s %s\n", "scenario", "variant", "detector",
		    "p50", "p99", "max", "all", "missing", "swept", "ovfl", "notes"
		for (i = 1; i <= ns; i++) for (j = 1; j <= nv; j++) {
			k = S[i] SUBSEP V[j]
			if (!(k in runs)) continue
			for (f = 1; f <= 4; f++) {
				name = (f == 1 ? "p50_ms" : f == 2 ? "p99_ms" : f == 3 ? "max_ms" : "all_ms")
				m[S[i], V[j], name] = median(v[k, name])
			}
			note = ""
			if (err[k]) note = note err[k] " failed runs; "
			if (fails[k]) note = note "georep failures " fails[k] "; "
			if (S[i] ~ /^rate/) note = note "rate " show(median(v[k, "rate"])) "/s"
			if (S[i] == "burst") note = note "writing " show(median(v[k, "write_ms"])) \
			    ", then " show(median(v[k, "after_ms"]))
			printf "%-9s %-16s %-9s %9s %9s %9s %9s %7d %7d %5d %s\n", S[i], V[j], det[k],
			    show(m[S[i], V[j], "p50_ms"]), show(m[S[i], V[j], "p99_ms"]),
			    show(m[S[i], V[j], "max_ms"]), show(m[S[i], V[j], "all_ms"]),
			    miss[k], swept[k], ovf[k], note
		}
		print ""
		print "Ratios georep / lsyncd of those medians (below 1: georep is faster):"
		printf "%-9s %-16s %-16s %9s %9s %9s\n", "scenario", "georep", "lsyncd", "p50", "p99", "all"
		for (i = 1; i <= ns; i++) for (j = 1; j <= nv; j++) {
			if (V[j] !~ /^georep/) continue
			for (l = 1; l <= nv; l++) {
				if (V[l] !~ /^lsyncd/) continue
				if (!((S[i] SUBSEP V[j]) in runs) || !((S[i] SUBSEP V[l]) in runs)) continue
				line = sprintf("%-9s %-16s %-16s", S[i], V[j], V[l])
				for (f = 1; f <= 3; f++) {
					name = (f == 1 ? "p50_ms" : f == 2 ? "p99_ms" : "all_ms")
					a = m[S[i], V[j], name]; b = m[S[i], V[l], name]
					if (a < 0 || b < 0) r = "-"
					else if (a >= 1e18 || b >= 1e18) r = (a >= 1e18 && b >= 1e18) ? "-" : (a >= 1e18 ? "inf" : "0")
					else if (b == 0) r = "-"
					else r = sprintf("%.3f", a / b)
					line = line sprintf(" %9s", r)
				}
				print line
			}
		}
		print ""
		print "Targets (georep):"
		for (j = 1; j <= nv; j++) {
			if (V[j] !~ /^georep/) continue
			tgt("single", V[j], "p50_ms", 20, "p50 of single writes on a quiet primary < 20 ms")
			tgt("rate1000", V[j], "p99_ms", 1000, "p99 at 1,000 writes/s < 1 s")
			tgt("burst", V[j], "all_ms", 2000, "a burst all on the secondary < 2 s")
		}
	}
	function tgt(sc, var, name, limit, what,   x) {
		if (!((sc SUBSEP var) in runs)) return
		x = m[sc, var, name]
		printf "  %-16s %-48s %9s ms  %s\n", var, what, show(x),
		    (x >= 0 && x < limit && !miss[sc SUBSEP var]) ? "met" : "NOT met"
	}
	' "$RAW"
	echo
	echo "Raw: round, scenario, variant, detector, georep failures, probe output"
	cat "$RAW"
}

summary | tee "$OUT"
note "written to $OUT"
