#!/usr/bin/env bash
# georep benchmark suite (issue 18): georep against tar, cp, rsync (locally
# and over ssh) and lsyncd, every tool timed in the same run, interleaved run
# by run, medians of rounds.  The method is in docs/BENCHMARKS.md.
#
# usage: bench/suite.sh          (or: make bench; as root: drop_caches, sshd)
#
# Scenarios (BENCH_SCENARIOS picks them, in this order by default):
#   1  first copy of BENCH_FILES files of 4 KiB, cold cache (drop_caches
#      before each run) and warm: georep sync (and --no-fsync, and
#      --sync-jobs 1: without the secondary's workers), rsync -aH,
#      tar | tar, cp -a, each of the last three also with "; sync"; and
#      over ssh to a loopback sshd: georep sync HOST:DST, rsync -aH -e ssh
#   2  first copy of a mixed tree (small files, big files, a deep chain of
#      directories, symlinks, hard links): georep, rsync -aH, tar | tar
#   3  no-change re-sync of the tree of 1: georep sync, rsync -aH
#   4  BENCH_MODIFY files changed, BENCH_CREATE created, BENCH_DELETE
#      deleted in a replicated tree of BENCH_TREE_FILES files: (a) a running
#      inotify session, from the first change to a completed checkpoint,
#      (b) georep sync, (c) rsync -aH --delete
#   5  1% of a BENCH_BIG_MIB MiB file rewritten in 100 places, over ssh:
#      time and bytes on the wire, georep sync against rsync --stats
#   6  replication lag: bench/lag.sh (its own settings: bench/lag.sh --help)
#   7  peak RSS (VmRSS, RssAnon, RssFile) of every process of georep sync
#      (first copy and no-change), of a georep session (first copy, then
#      idle) and of rsync -aH, over BENCH_RSS_FILES empty files
#   8  adoption (issue 19): the tree of 1 copied by rsync -aH, then 1% of
#      its files rewritten on the source: georep sync --adopt of one copy
#      against rsync -aH --stats of another: time, bytes of content sent,
#      peak RSS of every process
#
# environment (defaults; BENCH_QUICK=1 sets tiny ones, and 1 round):
#   BENCH_SCENARIOS  "1 2 3 4 5 6 7" (8 when asked for)
#   BENCH_ROUNDS     rounds; every tool runs once per round (5)
#   BENCH_FILES      files of scenarios 1 and 3 (100000)
#   BENCH_MIXED      "SMALL BIG BIG_MIB DEPTH SYMLINKS HARDLINKS" of scenario 2
#                    ("20000 20 50 30 1000 1000")
#   BENCH_TREE_FILES files of scenario 4 (200000); BENCH_MODIFY (100),
#                    BENCH_CREATE (10), BENCH_DELETE (10)
#   BENCH_BIG_MIB    size of the file of scenario 5 (1024)
#   BENCH_RSS_FILES  files of scenario 7 (1000000); BENCH_RSS_ROUNDS (1)
#   BENCH_SEED       seed of every dataset (18)
#   BENCH_DIR        work area: cached datasets (data/), destinations and
#                    indexes while it runs (/var/tmp/georep-bench)
#   BENCH_COLD       1: scenario 1 also with a cold cache (needs root) (1)
#   BENCH_FS         ext4: the destinations and indexes on a fresh ext4 with
#                    a journal, loop-mounted from a sparse image in
#                    BENCH_DIR (needs root; the default as root, else
#                    empty: in BENCH_DIR itself).  A host filesystem that
#                    has just deleted the last run's copies skews every
#                    tool (docs/BENCHMARKS.md: ext4 without a journal
#                    scans past recently deleted inodes)
#   LAG_FS           passed to bench/lag.sh (ext4; quick: empty, in /tmp)
#   GEOREP           the binary to measure (build/georep)
#
# bench/suite.sh --report bench/results/suite-STAMP.tsv prints the final
# table again from the figures of a run (also of an interrupted one).
#
# Results: bench/results/suite-STAMP.tsv (every figure of every run: scenario,
# round, position in the round, tool, metric, value) and
# bench/results/suite-STAMP-summary.txt (the printed report).
set -euo pipefail
export LC_ALL=C

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
note() { printf 'bench: %s\n' "$*" >&2; }

REPORT_TSV=
case "${1-}" in
-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
--report)
	# the final table again, from the figures of a run (even an
	# interrupted one): bench/suite.sh --report bench/results/suite-STAMP.tsv
	[[ -f ${2-} ]] || die "--report needs a suite-STAMP.tsv"
	REPORT_TSV=$2 ;;
"") ;;
*) die "no arguments expected (see --help); parameters come from the environment" ;;
esac

QUICK=${BENCH_QUICK:-0}
[[ $QUICK == [01] ]] || die "BENCH_QUICK must be 0 or 1"
if ((QUICK)); then
	: "${BENCH_ROUNDS:=1}" "${BENCH_FILES:=2000}" "${BENCH_MIXED:=500 2 4 30 100 100}"
	: "${BENCH_TREE_FILES:=5000}" "${BENCH_BIG_MIB:=32}" "${BENCH_RSS_FILES:=20000}"
	: "${LAG_FS=}"
fi
SCENARIOS=${BENCH_SCENARIOS:-1 2 3 4 5 6 7}
ROUNDS=${BENCH_ROUNDS:-5}
FILES=${BENCH_FILES:-100000}
read -r MX_SMALL MX_BIG MX_BIG_MIB MX_DEPTH MX_SYMLINKS MX_HARDLINKS <<<"${BENCH_MIXED:-20000 20 50 30 1000 1000}"
TREE_FILES=${BENCH_TREE_FILES:-200000}
MODIFY=${BENCH_MODIFY:-100}
CREATE=${BENCH_CREATE:-10}
DELETE=${BENCH_DELETE:-10}
BIG_MIB=${BENCH_BIG_MIB:-1024}
RSS_FILES=${BENCH_RSS_FILES:-1000000}
RSS_ROUNDS=${BENCH_RSS_ROUNDS:-1}
SEED=${BENCH_SEED:-18}
COLD=${BENCH_COLD:-1}
LAG_FS=${LAG_FS-ext4}
if ((EUID == 0)); then BENCH_FS=${BENCH_FS-ext4}; else BENCH_FS=${BENCH_FS-}; fi
[[ -z $BENCH_FS || $BENCH_FS == ext4 ]] || die "BENCH_FS: only 'ext4' (or empty) is known"
DIR=${BENCH_DIR:-/var/tmp/georep-bench}
FILE_SIZE=4096
PER_DIR=1000
PLACES=100		# scenario 5: places rewritten ...
PERMILLE=10		# ... 1% of the file in all
GEN_VERSION=1		# bump when bench/benchtool.py's output changes

for v in ROUNDS FILES MX_SMALL MX_BIG MX_BIG_MIB MX_DEPTH MX_SYMLINKS MX_HARDLINKS \
    TREE_FILES MODIFY CREATE DELETE BIG_MIB RSS_FILES RSS_ROUNDS SEED; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
((ROUNDS > 0 && RSS_ROUNDS > 0)) || die "rounds must be positive"
((MODIFY + DELETE <= TREE_FILES)) || die "BENCH_MODIFY + BENCH_DELETE > BENCH_TREE_FILES"
((BIG_MIB >= 1)) || die "BENCH_BIG_MIB must be at least 1"
for sc in $SCENARIOS; do
	[[ $sc == [1-8] ]] || die "BENCH_SCENARIOS: unknown scenario '$sc' (1 to 8)"
done
[[ $COLD == [01] ]] || die "BENCH_COLD must be 0 or 1"
[[ $DIR == /* && $DIR != / ]] || die "BENCH_DIR must be an absolute path other than /"
((BASH_VERSINFO[0] >= 5)) || die "bash 5 is needed (EPOCHREALTIME)"
for t in rsync tar cp python3 jq find diff cmp flock; do
	command -v "$t" >/dev/null || die "$t is not installed (make bench-deps)"
done
if [[ -z $REPORT_TSV ]] && ((COLD)) && [[ " $SCENARIOS " == *" 1 "* ]] && ((EUID != 0)); then
	die "scenario 1's cold runs drop the page cache: run as root, or BENCH_COLD=0"
fi

REPO=$(cd "$(dirname "$0")/.." && pwd)
GEOREP_IN=${GEOREP:-$REPO/build/georep}
[[ -x $GEOREP_IN ]] || die "$GEOREP_IN not found: run 'make' first"
TOOL=$REPO/bench/benchtool.py
RESULTS=$REPO/bench/results
STAMP=$(date +%Y%m%d-%H%M%S)

say() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
if [[ -n $REPORT_TSV ]]; then
	TSV=$REPORT_TSV SUMMARY=/dev/null
else		# (up to "fi": not for --report)
mkdir -p "$DIR" "$RESULTS"
DIR=$(cd "$DIR" && pwd -P)
exec 9>"$DIR/.lock"
flock -n 9 || die "another benchmark is running in $DIR"

DATA=$DIR/data		# cached datasets, one directory each, with NAME.params
FS_MNT=$DIR/fs		# BENCH_FS: the mount of FS_IMG
FS_IMG=$DIR/fs.img
DST=$DIR/dst		# destinations
HOMES=$DIR/home		# georep --home directories
if [[ -n $BENCH_FS ]]; then
	DST=$FS_MNT/dst HOMES=$FS_MNT/home
fi
LOG=$DIR/last-run.log	# output of the latest timed command
# A private copy of the binary: others may rebuild build/georep meanwhile.
GEOREP_BIN=$DIR/georep.bin
TSV=$RESULTS/suite-$STAMP.tsv
SUMMARY=$RESULTS/suite-$STAMP-summary.txt

AT_EXIT=()
cleanup() {
	local i
	for ((i = ${#AT_EXIT[@]} - 1; i >= 0; i--)); do
		eval "${AT_EXIT[i]}" || true
	done
	AT_EXIT=()
	if mountpoint -q "$FS_MNT"; then
		umount "$FS_MNT" || note "cannot unmount $FS_MNT"
	fi
	rm -f "$FS_IMG"
	rm -rf "${DIR:?}/dst" "${DIR:?}/home" "${DIR:?}/sshd" "$GEOREP_BIN" \
	    "$DIR/.times" "$DIR/.rss" "$DIR/.wire" "$DIR/.stop" "$DIR/.lag-start"
	rm -rf "$DATA"/*.tmp
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup
if [[ -n $BENCH_FS ]]; then
	# sparse: it takes only what the copies hold; an inode per 8 KiB for
	# scenario 7's millions of empty files
	mkdir -p "$FS_MNT"
	truncate -s 64G "$FS_IMG"
	mkfs.ext4 -q -F -i 8192 "$FS_IMG" || die "mkfs.ext4 $FS_IMG failed"
	mount -o loop "$FS_IMG" "$FS_MNT" || die "cannot loop-mount $FS_IMG on $FS_MNT"
fi
cp "$GEOREP_IN" "$GEOREP_BIN"
mkdir -p "$DATA" "$DST" "$HOMES"
printf 'scenario\tround\tposition\ttool\tmetric\tvalue\n' >"$TSV"
: >"$SUMMARY"
fi

# ---------------------------------------------------------------- the machine
machine() {
	local mem cpu mnt
	mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	mnt=$(findmnt -n -o SOURCE,FSTYPE,OPTIONS --target "$DIR" 2>/dev/null || true)
	say "georep benchmark suite, $(date -u '+%Y-%m-%d %H:%M:%S UTC')$( ((QUICK)) && echo ', QUICK RUN (tiny sizes)')"
	say "machine:  $(nproc) CPUs ($cpu), $mem RAM, kernel $(uname -r)"
	say "BENCH_DIR $DIR: ${mnt:-?}"
	[[ -z $BENCH_FS ]] ||
	    say "destinations: $DST on a fresh $BENCH_FS (loop: $FS_IMG, 64 GiB sparse, mkfs.ext4 -i 8192)"
	say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	say "georep:   $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')," \
	    "binary sha256 $(sha256sum "$GEOREP_BIN" | cut -c1-16)"
	say "rsync:    $(rsync --version | head -1)"
	say "tar:      $(tar --version | head -1); cp: $(cp --version | head -1)"
	say "scenarios $SCENARIOS; $ROUNDS rounds; files: $FILES (1, 3), mixed" \
	    "$MX_SMALL+$MX_BIG x ${MX_BIG_MIB} MiB (2), $TREE_FILES (4)," \
	    "big file $BIG_MIB MiB (5), $RSS_FILES files and $RSS_ROUNDS rounds (7); seed $SEED"
}

# need_space GIB INODES WHAT: enough room in BENCH_DIR, or stop now (a full
# disk on a shared machine hurts everyone)
need_space() {
	local free_k free_i
	free_k=$(df -Pk "$DIR" | awk 'NR == 2 { print $4 }')
	free_i=$(df -Pi "$DIR" | awk 'NR == 2 { print $4 }')
	((free_k / 1048576 >= $1 + 2)) ||
	    die "$3 needs about $1 GiB (+2 spare) in $DIR; $((free_k / 1048576)) GiB free"
	[[ $free_i == - ]] || (($2 + 10000 <= free_i)) ||
	    die "$3 needs about $2 inodes in $DIR; $free_i free"
}

# ---------------------------------------------------------------- datasets
# dataset NAME PARAMS GENERATOR-ARGS...: DS is DATA/NAME, made by
# 'benchtool.py GENERATOR-ARGS' (with the target path in place of @) unless
# the cached one was made with the same PARAMS
dataset() {
	local name=$1 want="$2 gen=$GEN_VERSION seed=$SEED" a args=() t0
	shift 2
	DS=$DATA/$name
	if [[ -d $DS && -f $DS.params && $(<"$DS.params") == "$want" ]]; then
		note "reusing the dataset $DS"
		return
	fi
	for a in "$@"; do [[ $a == @ ]] && args+=("$DS.tmp") || args+=("$a"); done
	note "generating $DS ($want)"
	t0=$SECONDS
	rm -rf "$DS" "$DS.params" "$DS.tmp" "$DS.touched" "$DS.state"
	python3 "$TOOL" "${args[@]}" || die "generating $DS failed"
	mv "$DS.tmp" "$DS"
	printf '%s\n' "$want" >"$DS.params"
	note "generated $DS in $((SECONDS - t0)) s"
}

# The source of scenarios 1 and 3 (and of 4, 7 with other sizes): N files of
# SIZE bytes; DS is its path.
ds_small() {	# N SIZE
	local d
	if [[ $2 == 0 ]]; then d=empty-$1; else d=small-$1; fi
	dataset "$d" "small n=$1 size=$2 per_dir=$PER_DIR" \
	    small @ "$1" "$2" "$PER_DIR" "$SEED"
	# scenario 4 changes its tree: an interrupted run left changes behind
	if [[ -f $DS.touched ]]; then
		note "undoing the changes an earlier scenario 4 left in $DS"
		python3 "$TOOL" restore "$DS" "$1" "$2" "$PER_DIR" "$SEED" "$DS.touched"
	fi
}

# Read a whole tree, so the next run reads it from the page cache.
warm_tree() {
	find "$1" -type f -print0 | xargs -0 -r cat >/dev/null
}

# Names, types, modes, sizes and link counts of files, symlink targets,
# mtimes (whole seconds: tar's default format keeps no more; not of
# symlinks); georep's .georep/ at the root is skipped.
listing() {
	find "$1" -mindepth 1 -path "$1/.georep" -prune -o \
	    -type f -printf '%P\tf\t%m\t%Ts\t%s\t%n\n' -o \
	    -type l -printf '%P\tl\t%l\n' -o \
	    -printf '%P\t%y\t%m\t%Ts\n' | sort
}

# same TOOL SRC DEST [CHANGED]: DEST is a copy of SRC (listing; content with
# diff -r, or only of the files named in the file CHANGED: the others'
# content did not change since an earlier full comparison)
same() {
	local _kind name
	listing "$2" >"$DIR/.src.listing"
	listing "$3" | cmp -s - "$DIR/.src.listing" || {
		listing "$3" | diff - "$DIR/.src.listing" | head >&2
		die "${LABEL[$1]}: $3 differs from $2 (names, types, modes, mtimes, sizes, links)"
	}
	if [[ -n ${4-} ]]; then
		while read -r _kind name; do
			[[ ! -e $2/$name ]] || cmp -s "$2/$name" "$3/$name" ||
			    die "${LABEL[$1]}: the content of $3/$name differs from $2"
		done <"$4"
		return
	fi
	diff -rq --no-dereference -x .georep "$2" "$3" >/dev/null ||
	    die "${LABEL[$1]}: the content of $3 differs from $2"
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches || die "cannot drop the page cache (root?)"
}

# ---------------------------------------------------------------- loopback ssh
# shellcheck source=bench/sshd.sh
source "$REPO/bench/sshd.sh"
SSHD_UP=0
ssh_up() {
	((SSHD_UP)) && return
	bench_sshd "$DIR/sshd" "$GEOREP_BIN"
	SSHD_UP=1
	note "loopback sshd: pid $(<"$SSH_DIR/main.pid"), port $SSH_PORT"
}

# --------------------------------------------------------------------- tools
declare -A LABEL=(
	[georep]="georep sync"
	[georep_nofsync]="georep sync --no-fsync"
	[georep_jobs1]="georep sync --sync-jobs 1"
	[rsync]="rsync -aH"
	[rsync_sync]="rsync -aH; sync"
	[rsync_delete]="rsync -aH --delete"
	[tar]="tar | tar"
	[tar_sync]="tar | tar; sync"
	[cp]="cp -a"
	[cp_sync]="cp -a; sync"
	[georep_ssh]="georep sync (ssh)"
	[rsync_ssh]="rsync -aH -e ssh"
	[rsync_ssh_sync]="rsync -aH -e ssh; sync"
	[georep_session]="georep session (inotify)"
	[georep_ssh_wire]="georep sync (ssh)"
	[rsync_ssh_wire]="rsync -aH --stats -e ssh"
	[rsync_ssh_wire_sync]="rsync -aH --stats -e ssh; sync"
	[georep_adopt]="georep sync --adopt"
	[rsync_stats]="rsync -aH --stats"
)

# run TOOL SRC DEST HOME: the command that is timed (DEST absent, or for
# tar an empty directory)
run() {
	local src=$2 dst=$3 home=$4
	case $1 in
	georep) "$GEOREP_BIN" sync --home "$home" -q "$src" "$dst" ;;
	georep_nofsync) "$GEOREP_BIN" sync --home "$home" --no-fsync -q "$src" "$dst" ;;
	georep_jobs1) "$GEOREP_BIN" sync --home "$home" --sync-jobs 1 -q "$src" "$dst" ;;
	rsync) rsync -aH "$src/" "$dst/" ;;
	rsync_delete) rsync -aH --delete "$src/" "$dst/" ;;
	tar) tar -C "$src" -cf - . | tar -C "$dst" -xf - ;;
	cp) cp -a "$src" "$dst" ;;
	georep_ssh) "$GEOREP_BIN" sync --home "$home" -q --ssh "$SSH_CMD" \
	    "$src" "$SSH_HOST:$dst" ;;
	rsync_ssh) rsync -aH -e "$SSH_CMD" "$src/" "$SSH_HOST:$dst/" ;;
	# scenario 5: through the byte counter (benchtool.py wire)
	georep_ssh_wire) "$GEOREP_BIN" sync --home "$home" -q \
	    --ssh "python3 $TOOL wire $DIR/.wire $SSH_CMD" "$src" "$SSH_HOST:$dst" ;;
	rsync_ssh_wire) rsync -aH --stats -e "python3 $TOOL wire $DIR/.wire $SSH_CMD" \
	    "$src/" "$SSH_HOST:$dst/" ;;
	*) die "unknown tool $1" ;;
	esac
}

# child_cpu: CPU_USER and CPU_SYS, in microseconds, of all the children this
# shell has waited for ('times', in this shell: a subshell counts from zero)
child_cpu() {
	local user sys
	times >"$DIR/.times"
	{ read -r _; read -r user sys; } <"$DIR/.times"
	mmss_us "$user"; CPU_USER=$US
	mmss_us "$sys"; CPU_SYS=$US
}

# mmss_us 1m2.345s: US is that in microseconds (no subshell)
mmss_us() {
	[[ $1 =~ ^([0-9]+)m([0-9]+)\.?([0-9]*)s$ ]] || die "cannot parse times: $1"
	local frac=${BASH_REMATCH[3]}000000
	US=$((10#${BASH_REMATCH[1]} * 60000000 + 10#${BASH_REMATCH[2]} * 1000000 + 10#${frac:0:6}))
}

# seconds MICROSECONDS: S is that many seconds, to the microsecond
seconds() {
	printf -v S '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000))
}

# timed TOOL SRC DEST HOME: runs it; SECS its wall time, USER_S and SYS_S
# its CPU time (children included), LOAD1 the load average at its start
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

# timed_sync: a sync straight after the run timed last; its figures then run
# from the start of that run to the end of the sync
timed_sync() {
	sync
	T_END=$EPOCHREALTIME
	measured
}

measured() {
	child_cpu
	seconds $((10#${T_END/./} - 10#${T_BEGIN/./})); SECS=$S
	seconds $((CPU_USER - CPU0_USER)); USER_S=$S
	seconds $((CPU_SYS - CPU0_SYS)); SYS_S=$S
}

# put SCENARIO ROUND POSITION TOOL METRIC VALUE: one figure
put() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$TSV"
}

# record SCENARIO ROUND POSITION TOOL: the figures of the run timed last
record() {
	put "$1" "$2" "$3" "$4" s "$SECS"
	put "$1" "$2" "$3" "$4" user_s "$USER_S"
	put "$1" "$2" "$3" "$4" sys_s "$SYS_S"
	put "$1" "$2" "$3" "$4" load1 "$LOAD1"
	note "$(printf '%-10s round %d  %-28s %9s s  (cpu %s+%s s, load %s)' \
	    "$1" "$2" "${LABEL[$4]}" "$SECS" "$USER_S" "$SYS_S" "$LOAD1")"
}

# fresh TOOL: its destination DST/TOOL and index HOMES/TOOL removed (tar's
# destination made: tar -C needs it)
fresh() {
	rm -rf "${DST:?}/$1" "${HOMES:?}/$1"
	[[ $1 != tar ]] || mkdir "$DST/$1"
}

# rotate R TOOLS...: ORDER is TOOLS starting at the (R-1)th: each round
# starts one tool later, so no tool always runs first or after the same one
rotate() {
	local r=$1 n k; shift
	n=$#
	ORDER=()
	for ((k = 0; k < n; k++)); do
		ORDER+=("${@:$(((k + r - 1) % n + 1)):1}")
	done
}

# ------------------------------------------------------------------ scenario 1
# A first copy of FILES files of 4 KiB into an absent destination (tar: an
# empty one), georep with a fresh --home; each round a cold pass (the page
# cache dropped before each run, untimed) and a warm pass (the source read
# before the pass).  rsync, tar and cp are also timed with a sync straight
# after them ("; sync"), in the same run.
scenario_1() {
	local src r pass k pos tool tools sc
	# the source and the 8 tools' copies (each stays until its next run)
	need_space $((FILES * 9 * 5 / 1048576 + 1)) $((FILES * 9 + 10000)) "scenario 1"
	ds_small "$FILES" "$FILE_SIZE"; src=$DS
	ssh_up
	tools=(georep georep_nofsync georep_jobs1 rsync tar cp georep_ssh rsync_ssh)
	for ((r = 1; r <= ROUNDS; r++)); do
		for pass in cold warm; do
			[[ $pass == cold ]] && ((!COLD)) && continue
			rotate "$r" "${tools[@]}"
			[[ $pass == warm ]] && warm_tree "$src"
			pos=0
			for tool in "${ORDER[@]}"; do
				pos=$((pos + 1))
				fresh "$tool"
				sync		# untimed: no dirty data of earlier runs
				[[ $pass == cold ]] && drop_caches
				timed "$tool" "$src" "$DST/$tool" "$HOMES/$tool"
				sc=1-$pass
				[[ $tool == *ssh ]] && sc=1-$pass-ssh
				record "$sc" "$r" "$pos" "$tool"
				if [[ $tool == @(rsync|tar|cp|rsync_ssh) ]]; then
					timed_sync
					record "$sc" "$r" "$pos" "${tool}_sync"
				fi
				((r > 1)) || same "$tool" "$src" "$DST/$tool"
			done
		done
	done
	rm -rf "${DST:?}"/* "${HOMES:?}"/*
}

# ------------------------------------------------------------------ scenario 2
# A first copy of the mixed tree: georep, rsync -aH, tar | tar (and "; sync").
scenario_2() {
	local src r pos tool gib
	gib=$(((MX_SMALL * 9 / 1024 + MX_BIG * MX_BIG_MIB) * 5 / 1024 + 1))
	need_space "$gib" $(((MX_SMALL + MX_DEPTH * 2 + MX_SYMLINKS + 1000) * 5)) "scenario 2"
	dataset "mixed" "mixed $MX_SMALL $MX_BIG $MX_BIG_MIB $MX_DEPTH $MX_SYMLINKS $MX_HARDLINKS" \
	    mixed @ "$MX_SMALL" "$MX_BIG" "$MX_BIG_MIB" "$MX_DEPTH" "$MX_SYMLINKS" \
	    "$MX_HARDLINKS" "$SEED"
	src=$DS
	for ((r = 1; r <= ROUNDS; r++)); do
		rotate "$r" georep georep_nofsync rsync tar
		warm_tree "$src"
		pos=0
		for tool in "${ORDER[@]}"; do
			pos=$((pos + 1))
			fresh "$tool"
			sync
			timed "$tool" "$src" "$DST/$tool" "$HOMES/$tool"
			record 2 "$r" "$pos" "$tool"
			if [[ $tool == @(rsync|tar) ]]; then
				timed_sync
				record 2 "$r" "$pos" "${tool}_sync"
			fi
			((r > 1)) || same "$tool" "$src" "$DST/$tool"
		done
	done
	rm -rf "${DST:?}"/* "${HOMES:?}"/*
}

# ------------------------------------------------------------------ scenario 3
# The same command again on its own replica of the tree of 1 (made untimed
# first), nothing changed in the source.
scenario_3() {
	local src r pos tool
	need_space $((FILES * 3 * 5 / 1048576 + 1)) $((FILES * 4)) "scenario 3"
	ds_small "$FILES" "$FILE_SIZE"; src=$DS
	for tool in georep georep_nofsync rsync; do
		fresh "$tool"
		run "$tool" "$src" "$DST/$tool" "$HOMES/$tool" >"$LOG" 2>&1 ||
		    die "the first copy by ${LABEL[$tool]} for scenario 3 failed"
	done
	warm_tree "$src"
	for ((r = 1; r <= ROUNDS; r++)); do
		rotate "$r" georep georep_nofsync rsync
		pos=0
		for tool in "${ORDER[@]}"; do
			pos=$((pos + 1))
			sync
			timed "$tool" "$src" "$DST/$tool" "$HOMES/$tool"
			record 3 "$r" "$pos" "$tool"
		done
	done
	for tool in georep georep_nofsync rsync; do
		same "$tool" "$src" "$DST/$tool"
	done
	rm -rf "${DST:?}"/* "${HOMES:?}"/*
}

# ------------------------------------------------------------------ scenario 4
S4=bench4		# the session's name
# checkpoint_wait NAME HOME: sets a checkpoint "now" on a session and waits
# (10 min at most) until it completed; CP_DONE is its completion time
# (epoch seconds, from status --json checkpoint.completed_at)
checkpoint_wait() {
	local name=$1 home=$2 cp st deadline=$((SECONDS + 600))
	cp=$("$GEOREP_BIN" checkpoint --home "$home" "$name" now |
	    sed -nE 's/^checkpoint ([^ ]+) set on session .*/\1/p')
	[[ -n $cp ]] || die "georep checkpoint $name now: no checkpoint time"
	while :; do
		st=$("$GEOREP_BIN" status --home "$home" --json "$name")
		[[ $(jq -r --arg cp "$cp" \
		    '.checkpoint.time == $cp and .checkpoint.completed' <<<"$st") == true ]] &&
		    break
		((SECONDS < deadline)) || {
			"$GEOREP_BIN" status --home "$home" "$name" >&2 || true
			die "session $name: checkpoint $cp not completed in 600 s"
		}
		sleep 0.02
	done
	CP_DONE=$(date -d "$(jq -r .checkpoint.completed_at <<<"$st")" +%s.%N)
}

session_stop() {	# NAME HOME
	"$GEOREP_BIN" stop --home "$2" "$1" >/dev/null 2>&1 || true
	"$GEOREP_BIN" delete --home "$2" --force "$1" >/dev/null 2>&1 || true
}

scenario_4() {
	local src r pos tool t0 ss
	need_space $((TREE_FILES * 4 * 5 / 1048576 + 1)) $((TREE_FILES * 4)) "scenario 4"
	ds_small "$TREE_FILES" "$FILE_SIZE"; src=$DS
	# The changes of each round go into the cached tree; they are listed in
	# $src.touched and undone at the end (or by the next run).
	AT_EXIT+=("python3 '$TOOL' restore '$src' $TREE_FILES $FILE_SIZE $PER_DIR $SEED '$src.touched'")
	note "scenario 4: the replicas (untimed): a session, georep sync, rsync"
	fresh georep_session; fresh georep; fresh rsync_delete
	"$GEOREP_BIN" create --home "$HOMES/georep_session" \
	    --config change_detector=inotify "$S4" "$src" "$DST/georep_session" >"$LOG" ||
	    die "georep create failed: $(cat "$LOG")"
	AT_EXIT+=("session_stop $S4 '$HOMES/georep_session'")
	"$GEOREP_BIN" start --home "$HOMES/georep_session" "$S4" >"$LOG" ||
	    die "georep start failed: $(cat "$LOG")"
	checkpoint_wait "$S4" "$HOMES/georep_session"
	ss=$("$GEOREP_BIN" status --home "$HOMES/georep_session" --json "$S4" |
	    jq -r .change_detector)
	[[ $ss == inotify ]] || die "the session's change detector is $ss, not inotify"
	for tool in georep rsync_delete; do
		run "$tool" "$src" "$DST/$tool" "$HOMES/$tool" >"$LOG" 2>&1 ||
		    die "the first copy by ${LABEL[$tool]} failed: $(cat "$LOG")"
	done
	warm_tree "$src"
	for ((r = 1; r <= ROUNDS; r++)); do
		sync
		# (a) the session sees the changes as they are made: from the
		# first change to its checkpoint completed
		read -r LOAD1 _ </proc/loadavg
		t0=$(python3 "$TOOL" mutate "$src" "$TREE_FILES" "$FILE_SIZE" "$PER_DIR" \
		    "$SEED" "$r" "$MODIFY" "$CREATE" "$DELETE" "$src.touched")
		checkpoint_wait "$S4" "$HOMES/georep_session"
		SECS=$(awk -v a="$t0" -v b="$CP_DONE" 'BEGIN { printf "%.6f", b - a }')
		put 4 "$r" 0 georep_session s "$SECS"
		put 4 "$r" 0 georep_session load1 "$LOAD1"
		note "$(printf '%-10s round %d  %-28s %9s s  (first change to checkpoint completed)' \
		    4 "$r" "${LABEL[georep_session]}" "$SECS")"
		# (b), (c): one-shot re-syncs, interleaved
		rotate "$r" georep rsync_delete
		pos=0
		for tool in "${ORDER[@]}"; do
			pos=$((pos + 1))
			sync
			timed "$tool" "$src" "$DST/$tool" "$HOMES/$tool"
			record 4 "$r" "$pos" "$tool"
		done
	done
	# the listings, and the content of the files changed (the first copies
	# were the same tools' own, and their content is not compared: a
	# 200,000-file diff -r per replica takes minutes)
	for tool in georep_session georep rsync_delete; do
		same "$tool" "$src" "$DST/$tool" "$src.touched"
	done
	session_stop "$S4" "$HOMES/georep_session"
	python3 "$TOOL" restore "$src" "$TREE_FILES" "$FILE_SIZE" "$PER_DIR" "$SEED" "$src.touched"
	rm -rf "${DST:?}"/* "${HOMES:?}"/*
}

# ------------------------------------------------------------------ scenario 5
# big_state STATE: the file of scenario 5 in state a (as generated) or b (1%
# rewritten in 100 places); its mtime EPOCH (a) or EPOCH + 1 (b), so that a
# change of state is a change of mtime for rsync's quick check
big_state() {
	python3 "$TOOL" patch "$BIG/big" "$PLACES" "$PERMILLE" "$SEED" "$1"
	if [[ $1 == a ]]; then
		touch -d @1767225600 "$BIG/big"
		rm -f "$BIG.state"
	else
		touch -d @1767225601 "$BIG/big"
		echo b >"$BIG.state"
	fi
}

# wire_put SCENARIO ROUND POSITION TOOL: the bytes the byte counter saw
wire_put() {
	local sent recv
	sent=$(awk '$1 == "sent" { n += $2 } END { print n + 0 }' "$DIR/.wire")
	recv=$(awk '$1 == "recv" { n += $2 } END { print n + 0 }' "$DIR/.wire")
	put "$1" "$2" "$3" "$4" wire_sent "$sent"
	put "$1" "$2" "$3" "$4" wire_recv "$recv"
	note "$(printf '%-10s round %d  %-28s %12s bytes sent, %s received (ssh stdin/stdout)' \
	    "$1" "$2" "${LABEL[$4]}" "$sent" "$recv")"
}

scenario_5() {
	local r pos tool state stats
	need_space $((BIG_MIB * 3 / 1024 + 1)) 100 "scenario 5"
	dataset "big-$BIG_MIB" "big mib=$BIG_MIB" big @ "$BIG_MIB" "$SEED"
	# the file, in a directory of its own (the tree synced): a hard link
	BIG=$DATA/bigtree-$BIG_MIB
	if [[ ! -f $BIG/big || $(stat -c %i "$BIG/big") != $(stat -c %i "$DS") ]]; then
		rm -rf "$BIG" "$BIG.state"
		mkdir "$BIG"
		ln "$DS" "$BIG/big"
	fi
	[[ ! -f $BIG.state ]] || big_state a	# an interrupted run's
	AT_EXIT+=("[[ ! -f '$BIG.state' ]] || big_state a")
	ssh_up
	note "scenario 5: the replicas of the $BIG_MIB MiB file (untimed)"
	for tool in georep_ssh_wire rsync_ssh_wire; do
		fresh "$tool"
		run "$tool" "$BIG" "$DST/$tool" "$HOMES/$tool" >"$LOG" 2>&1 ||
		    die "the first copy by ${LABEL[$tool]} failed: $(cat "$LOG")"
	done
	for ((r = 1; r <= ROUNDS; r++)); do
		# odd rounds a -> b, even rounds b -> a: 1% rewritten each time
		state=b; ((r % 2)) || state=a
		big_state "$state"
		rotate "$r" georep_ssh_wire rsync_ssh_wire
		pos=0
		for tool in "${ORDER[@]}"; do
			pos=$((pos + 1))
			sync
			: >"$DIR/.wire"
			timed "$tool" "$BIG" "$DST/$tool" "$HOMES/$tool"
			record 5 "$r" "$pos" "$tool"
			if [[ $tool == rsync_ssh_wire ]]; then
				timed_sync
				record 5 "$r" "$pos" "${tool}_sync"
			fi
			wire_put 5 "$r" "$pos" "$tool"
			if [[ $tool == rsync_ssh_wire ]]; then
				stats=$(sed -nE 's/^Total bytes sent: ([0-9,.]+).*/\1/p' "$LOG" | tr -d ,.)
				[[ -n $stats ]] || die "no 'Total bytes sent' in rsync --stats"
				put 5 "$r" "$pos" "$tool" stats_sent "$stats"
			fi
			cmp -s "$BIG/big" "$DST/$tool/big" ||
			    die "${LABEL[$tool]}: the replica of the big file differs"
		done
	done
	[[ ! -f $BIG.state ]] || big_state a
	rm -rf "${DST:?}"/* "${HOMES:?}"/*
}

# ------------------------------------------------------------------ scenario 6
scenario_6() {
	local env=()
	((QUICK)) && env=(ROUNDS=1 LAG_VARIANTS="georep-inotify lsyncd-delay0"
	    LAG_SCENARIOS="single burst" LAG_SINGLE=5 LAG_BURST=1000)
	note "scenario 6: bench/lag.sh${env:+ (quick: ${env[*]})}"
	touch "$DIR/.lag-start"
	env "${env[@]}" LAG_FS="$LAG_FS" GEOREP="$GEOREP_BIN" "$REPO/bench/lag.sh" |
	    tee -a "$SUMMARY" >"$DIR/lag.out" || die "bench/lag.sh failed"
	# lag.sh's own report (named by the time it started)
	LAG_OUT=$(find "$RESULTS" -maxdepth 1 -name 'lag-*.txt' -newer "$DIR/.lag-start" |
	    sort | tail -1)
	# Its raw lines (after "Raw:"; round, scenario, variant, detector,
	# failures, the probe's KEY=VALUE) into the table: p50, p99 and (burst)
	# the time until all were on the secondary, in ms.
	local round scen variant _det _fails rest kv v
	while IFS=$'\t' read -r round scen variant _det _fails rest; do
		[[ $round =~ ^[0-9]+$ ]] || continue
		LABEL[$variant]=$variant
		for kv in $rest; do
			case $kv in
			p50_ms=* | p99_ms=*) ;;
			all_ms=*) [[ $scen == burst ]] || continue ;;
			*) continue ;;
			esac
			put "6-$scen" "$round" 0 "$variant" "${kv%%=*}" "${kv#*=}"
		done
		# the ratios: to georep with fanotify when it ran, else inotify
		v=${REF[6-$scen]-}
		[[ $variant != georep-* || $v == georep-fanotify ]] || REF[6-$scen]=$variant
	done < <(sed -n '/^Raw:/,$p' "$DIR/lag.out")
}

# ------------------------------------------------------------------ scenario 7
# rss_put SCENARIO ROUND TOOL: the peaks benchtool.py rss wrote, in MiB
rss_put() {
	local role field kb
	while IFS=$'\t' read -r role field kb; do
		[[ $role == samples ]] && continue
		case $field in VmRSS) field=rss ;; RssAnon) field=anon ;; RssFile) field='file' ;; esac
		put "$1" "$2" 0 "$3" "$field $role" "$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')"
	done <"$DIR/.rss"
	note "$(printf '%-10s round %d  %-28s peak RSS %s MiB (anon %s, file %s), %s samples' \
	    "$1" "$2" "${LABEL[$3]}" \
	    "$(awk '$1 == "tree" && $2 == "VmRSS" { printf "%.1f", $3 / 1024 }' "$DIR/.rss")" \
	    "$(awk '$1 == "tree" && $2 == "RssAnon" { printf "%.1f", $3 / 1024 }' "$DIR/.rss")" \
	    "$(awk '$1 == "tree" && $2 == "RssFile" { printf "%.1f", $3 / 1024 }' "$DIR/.rss")" \
	    "$(awk '$1 == "samples" { print $3 }' "$DIR/.rss")")"
}

# rss_run SCENARIO ROUND TOOL ROLES SRC: a georep sync or rsync run under
# the sampler
rss_run() {
	local sc=$1 r=$2 tool=$3 roles=$4 src=$5 t0
	sync
	t0=$EPOCHREALTIME
	case $tool in
	georep) python3 "$TOOL" rss "$DIR/.rss" "$roles" -- "$GEOREP_BIN" sync \
	    --home "$HOMES/$tool" -q "$src" "$DST/$tool" >"$LOG" 2>&1 ;;
	rsync) python3 "$TOOL" rss "$DIR/.rss" "$roles" -- rsync -aH "$src/" \
	    "$DST/$tool/" >"$LOG" 2>&1 ;;
	esac || die "${LABEL[$tool]} failed under the sampler: $(cat "$LOG")"
	seconds $((10#${EPOCHREALTIME/./} - 10#${t0/./}))
	put "$sc" "$r" 0 "$tool" s "$S"
	rss_put "$sc" "$r" "$tool"
}

# count_same TOOL SRC DEST: as many names in DEST as in SRC (a full
# comparison of a million names would take longer than the copy)
count_same() {
	local a b
	a=$(find "$2" | wc -l)
	b=$(find "$3" -path "$3/.georep" -prune -o -print | wc -l)
	((a == b)) || die "${LABEL[$1]}: $3 has $b names, $2 has $a"
}

# ------------------------------------------------------------------ scenario 8
# adopt_run ROUND POSITION TOOL SRC: georep sync --adopt or rsync -aH --stats
# of SRC into its pre-seeded copy, under the RSS sampler; its time, the
# bytes of content it sent (georep --json, rsync's 'Total transferred file
# size') and the peaks of its processes
adopt_run() {
	local r=$1 pos=$2 tool=$3 src=$4 bytes t0
	t0=$EPOCHREALTIME
	case $tool in
	georep_adopt) python3 "$TOOL" rss "$DIR/.rss" primary,secondary -- \
	    "$GEOREP_BIN" sync --home "$HOMES/$tool" --adopt --json -q "$src" \
	    "$DST/$tool" >"$LOG" 2>"$LOG.err" ;;
	rsync_stats) python3 "$TOOL" rss "$DIR/.rss" sender,receiver,generator -- \
	    rsync -aH --stats "$src/" "$DST/$tool/" >"$LOG" 2>"$LOG.err" ;;
	esac || die "${LABEL[$tool]} failed: $(cat "$LOG" "$LOG.err")"
	seconds $((10#${EPOCHREALTIME/./} - 10#${t0/./}))
	put 8 "$r" "$pos" "$tool" s "$S"
	case $tool in
	georep_adopt) bytes=$(jq -r .content_bytes_sent "$LOG") ;;
	rsync_stats) bytes=$(sed -nE 's/^Total transferred file size: ([0-9,.]+).*/\1/p' "$LOG" | tr -d ,.) ;;
	esac
	[[ $bytes =~ ^[0-9]+$ ]] || die "${LABEL[$tool]}: no count of bytes sent in $LOG"
	put 8 "$r" "$pos" "$tool" content_sent "$bytes"
	rss_put 8 "$r" "$tool"
	note "$(printf '%-10s round %d  %-28s %9s s, %s bytes of content sent' 8 "$r" \
	    "${LABEL[$tool]}" "$S" "$bytes")"
}

scenario_8() {
	local src r tool pos n
	need_space $((FILES * 3 * 5 / 1048576 + 1)) $((FILES * 4)) "scenario 8"
	ds_small "$FILES" "$FILE_SIZE"; src=$DS
	n=$((FILES / 100))
	AT_EXIT+=("[[ ! -f '$src.touched' ]] || python3 '$TOOL' restore '$src' $FILES $FILE_SIZE $PER_DIR $SEED '$src.touched'")
	for ((r = 1; r <= ROUNDS; r++)); do
		note "scenario 8, round $r: two copies by rsync -aH (untimed), then $n files rewritten"
		for tool in georep_adopt rsync_stats; do
			fresh "$tool"
			rsync -aH "$src/" "$DST/$tool/" || die "seeding $DST/$tool failed"
		done
		rm -f "$src.touched"
		python3 "$TOOL" mutate "$src" "$FILES" "$FILE_SIZE" "$PER_DIR" "$SEED" \
		    $((800 + r)) "$n" 0 0 "$src.touched" >/dev/null
		warm_tree "$src"
		rotate "$r" georep_adopt rsync_stats
		pos=0
		for tool in "${ORDER[@]}"; do
			pos=$((pos + 1))
			sync
			adopt_run "$r" "$pos" "$tool" "$src"
			same "$tool" "$src" "$DST/$tool" "$src.touched"
		done
		python3 "$TOOL" restore "$src" "$FILES" "$FILE_SIZE" "$PER_DIR" "$SEED" "$src.touched"
		rm -f "$src.touched"
		rm -rf "${DST:?}"/* "${HOMES:?}"/*
	done
}

scenario_7() {
	local src r tool pid t0
	need_space $((RSS_FILES * 3 * 4 / 1048576 + 1)) $((RSS_FILES * 3 + 10000)) "scenario 7"
	ds_small "$RSS_FILES" 0; src=$DS
	for ((r = 1; r <= RSS_ROUNDS; r++)); do
		rotate "$r" georep rsync
		for tool in "${ORDER[@]}"; do
			fresh "$tool"
			rss_run 7-first "$r" "$tool" \
			    "$([[ $tool == georep ]] && echo primary,secondary || echo sender,receiver,generator)" "$src"
			count_same "$tool" "$src" "$DST/$tool"
		done
		for tool in "${ORDER[@]}"; do
			rss_run 7-nochange "$r" "$tool" \
			    "$([[ $tool == georep ]] && echo primary,secondary || echo sender,receiver,generator)" "$src"
		done
		rm -rf "${DST:?}"/* "${HOMES:?}"/*
		# a session: its first copy, then 2 s idle
		tool=georep_session
		"$GEOREP_BIN" create --home "$HOMES/$tool" --config change_detector=inotify \
		    bench7 "$src" "$DST/$tool" >"$LOG" || die "georep create failed"
		AT_EXIT+=("session_stop bench7 '$HOMES/$tool'")
		sync
		t0=$EPOCHREALTIME
		"$GEOREP_BIN" start --home "$HOMES/$tool" bench7 >"$LOG" ||
		    die "georep start failed: $(cat "$LOG")"
		pid=$(sed -nE 's/.*\(pid ([0-9]+)\).*/\1/p' "$LOG")
		[[ -n $pid ]] || die "no pid in: $(cat "$LOG")"
		rm -f "$DIR/.stop"
		python3 "$TOOL" rss "$DIR/.rss" monitor,worker,secondary --pid "$pid" \
		    --stop-file "$DIR/.stop" &
		local sampler=$!
		AT_EXIT+=("kill $sampler 2>/dev/null")
		checkpoint_wait bench7 "$HOMES/$tool"
		# its first copy: from the start to the checkpoint completed
		put 7-session "$r" 0 "$tool" s \
		    "$(awk -v a="$t0" -v b="$CP_DONE" 'BEGIN { printf "%.6f", b - a }')"
		sleep 2
		touch "$DIR/.stop"
		wait "$sampler" || die "the sampler failed"
		rss_put 7-session "$r" "$tool"
		count_same "$tool" "$src" "$DST/$tool"
		session_stop bench7 "$HOMES/$tool"
		rm -rf "${DST:?}"/* "${HOMES:?}"/*
	done
}

# ---------------------------------------------------------------- the report
# The reference tool of each scenario, for the ratios.
declare -A REF=(
	[1-cold]=georep [1-warm]=georep [1-cold-ssh]=georep_ssh [1-warm-ssh]=georep_ssh
	[2]=georep [3]=georep [4]=georep [5]=georep_ssh_wire
	[7-first]=georep [7-nochange]=georep [7-session]=georep
	[8]=georep_adopt
)

report() {
	local refs k labels
	refs=$(for k in "${!REF[@]}"; do printf '%s=%s\034' "$k" "${REF[$k]}"; done)
	labels=$(for k in "${!LABEL[@]}"; do printf '%s=%s\034' "$k" "${LABEL[$k]}"; done)
	say ""
	say "Median, min and max over the n runs (one per round); /georep: the median over"
	say "georep's (the row marked *) for the same scenario and figure (above 1: more than"
	say "georep).  s: wall seconds; wire_sent/wire_recv: bytes through ssh's stdin/stdout;"
	say "stats_sent: rsync --stats 'Total bytes sent' (its ratio: to georep's wire_sent);"
	say "6: lag in ms (bench/lag.sh); 7: peak MiB per process role, and of the whole tree"
	say "at one instant ('tree')."
	awk -F'\t' -v refs="$refs" -v labels="$labels" '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function kv(s, arr,   n, x, i, p) {
		n = split(s, x, "\034")
		for (i = 1; i <= n; i++)
			if ((p = index(x[i], "=")) > 0)
				arr[substr(x[i], 1, p - 1)] = substr(x[i], p + 1)
	}
	BEGIN { kv(refs, ref); kv(labels, label) }
	NR > 1 && $5 !~ /^(user_s|sys_s|load1)$/ {
		k = $1 SUBSEP $4 SUBSEP $5
		if (!(k in cnt)) order[++nk] = k
		v[k, ++cnt[k]] = $6
	}
	END {
		for (i = 1; i <= nk; i++) {
			k = order[i]; n = cnt[k]
			for (j = 1; j <= n; j++) a[j] = v[k, j]
			med[k] = median(a, n); rounds[k] = n
			lo[k] = a[1]; hi[k] = a[n]	# sorted by median()
			delete a
		}
		printf "%-11s %-31s %-14s %12s %12s %12s %3s %8s\n", "scenario", "tool", "figure", "median", "min", "max", "n", "/georep"
		for (i = 1; i <= nk; i++) {
			k = order[i]; split(k, p, SUBSEP)
			# rsync --stats bytes against what georep sent through ssh
			r = p[1] SUBSEP ref[p[1]] SUBSEP (p[3] == "stats_sent" ? "wire_sent" : p[3])
			ratio = (r in med && med[r] > 0) ? sprintf("%7.2fx", med[k] / med[r]) : "-"
			name = label[p[2]] (p[2] == ref[p[1]] ? " *" : "")
			f = (p[3] ~ /^(wire|stats|content)/) ? "%12d" : (p[3] == "s" ? "%12.3f" : "%12.1f")
			printf "%-11s %-31s %-14s " f " " f " " f " %3d %8s\n", p[1], name, p[3],
			    med[k], lo[k], hi[k], rounds[k], ratio
		}
	}' "$TSV" | tee -a "$SUMMARY"
}

# ----------------------------------------------------------------------- main
if [[ -n $REPORT_TSV ]]; then
	# scenario 6's ratios: to the georep variant that ran, fanotify first
	while read -r sc t; do
		LABEL[$t]=$t
		[[ $t == georep-* && ${REF[$sc]-} != georep-fanotify ]] || continue
		REF[$sc]=$t
	done < <(awk -F'\t' '$1 ~ /^6-/ { print $1, $4 }' "$TSV" | sort -u)
	report
	exit 0
fi
T_START=$EPOCHREALTIME
LAG_OUT=
machine
for sc in $SCENARIOS; do
	note "---- scenario $sc"
	"scenario_$sc"
done
report
[[ -z $LAG_OUT ]] || say "scenario 6 (lag): see the tables above and $LAG_OUT"
say ""
say "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
say "benchmark wall time: $(( (10#${EPOCHREALTIME/./} - 10#${T_START/./}) / 1000000 )) s"
say "raw figures: $TSV"
