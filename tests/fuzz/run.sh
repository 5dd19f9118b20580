#!/usr/bin/env bash
# Build and run the fuzz targets (libFuzzer + ASan + UBSan):
#
#   frames    the secondary's request handling and the frame parser
#             (tests/fuzz/fuzz_frames.c, seeds from seeds.c)
#   replies   the primary's handling of what the secondary sends: conn.c's
#             frame parsing and reply checks, the LISTDIR and VLIST page
#             checks, verify's reading of VLIST entries and DIGESTs
#             (tests/fuzz/fuzz_replies.c, seeds from seeds_replies.c)
#
#   tests/fuzz/run.sh                 build, seed, fuzz each target for
#                                     FUZZ_SECONDS (60) seconds, one after
#                                     the other
#   FUZZ_SECONDS=600 tests/fuzz/run.sh
#   FUZZ_TARGETS=replies tests/fuzz/run.sh     only the targets named
#   tests/fuzz/run.sh CRASH_FILE...   build, then replay the given inputs,
#                                     each with its target: a file named
#                                     replies-* with fuzz_replies, any
#                                     other with fuzz_frames
#                                     (FUZZ_VERBOSE=1: with the logs)
#
# Everything goes to build-fuzz/ (FUZZ_BUILD): the binaries, the generated
# seeds (seeds/, seeds-replies/), the corpora the fuzzer grows (corpus/,
# corpus-replies/, kept between runs), crash artifacts (artifacts/,
# named frames-* or replies-*), and the scratch directory the secondary
# works in.  As root the frames target runs in a mount namespace where
# nothing else is writable (see fuzz_frames.c); the replies target touches
# no file.  Exits non-zero when a fuzzer finds a crash, a leak or a failed
# check.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
out=${FUZZ_BUILD:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-frames replies}
CC=${FUZZ_CC:-clang}

mkdir -p "$out/artifacts"
# Absolute: a crash inside a VLIST happens with the working directory in
# the secondary's tree (vlist.c reads xattrs from there), and its artifact
# must still land in artifacts/.
out=$(cd "$out" && pwd)
# The frames target's only writable place besides its scratch tmpfs, as
# root.
FUZZ_WRITABLE=$out
export FUZZ_WRITABLE

# What each target's code needs, and no more.
common="src/protocol/proto.c src/common/codec.c src/common/attrs.c
        src/common/names.c src/common/util.c src/common/log.c"
src_frames="src/secondary/secondary.c src/secondary/pool.c src/common/resolve.c
            src/common/xattrs.c src/common/digest.c src/verify/vlist.c
            src/common/delta.c $common"
src_replies="src/protocol/conn.c src/protocol/transport.c
             src/common/cmdline.c $common"
flags="-g -O1 -fno-omit-frame-pointer -std=gnu11 -Isrc -D_GNU_SOURCE
       -D_FILE_OFFSET_BITS=64 -Wall -Wextra -Wno-unused-parameter -Werror
       $(pkg-config --cflags libxxhash libzstd)"
libs="$(pkg-config --libs libxxhash libzstd) -lrsync -pthread"	# digests; proto.c's blocks; deltas

# build TARGET: the fuzzer binary $out/fuzz_TARGET.
build() {
	local t=$1 src
	src=src_$t
	echo "fuzz: building $out/fuzz_$t"
	# shellcheck disable=SC2086
	$CC $flags -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined \
	    -o "$out/fuzz_$t" "tests/fuzz/fuzz_$t.c" ${!src} $libs
}

# Replay: each file with the target its name says.
if [ $# -gt 0 ]; then
	frames=() replies=()
	for f in "$@"; do
		case $(basename "$f") in
		replies-*) replies+=("$f") ;;
		*) frames+=("$f") ;;
		esac
	done
	rc=0
	if [ ${#frames[@]} -gt 0 ]; then
		build frames
		"$out/fuzz_frames" "${frames[@]}" || rc=$?
	fi
	if [ ${#replies[@]} -gt 0 ]; then
		build replies
		"$out/fuzz_replies" "${replies[@]}" || rc=$?
	fi
	exit "$rc"
fi

# seed TARGET: its seed generator's output in $out/SEEDS.
seed() {
	local t=$1 gen dir src
	case $t in
	frames) gen=tests/fuzz/seeds.c dir=seeds ;;
	replies) gen=tests/fuzz/seeds_replies.c dir=seeds-replies ;;
	esac
	src=src_$t
	echo "fuzz: writing seeds to $out/$dir"
	mkdir -p "$out/$dir"
	# shellcheck disable=SC2086
	$CC $flags -fsanitize=address,undefined -o "$out/seeds-gen-$t" \
	    "$gen" ${!src} $libs
	rm -f "$out/$dir"/*
	"$out/seeds-gen-$t" "$out/$dir"
}

cat >"$out/frames.dict" <<'DICT'
"\x00\x00\x00\x00"
"\xff\xff\xff\xff"
"\x00\x00\x40\x00"
"\x01\x00\x40\x00"
".georep"
".georep/"
".."
"."
"/"
"//"
"user."
"trusted."
"security."
"security.capability"
"system.posix_acl_access"
"system.posix_acl_default"
DICT
# The replies' edges: the REPLY type, errnos, the lengths that bound them.
cat >"$out/replies.dict" <<'DICT'
"\x40"
"\x00\x00\x00\x00"
"\xff\xff\xff\xff"
"\xff\x0f\x00\x00"
"\x00\x10\x00\x00"
"\x01\x10\x00\x00"
"\x08\x00\x00\x00"
"\x00\x00\x10\x00"
"\x01\x00\x10\x00"
"\x00\x00\x40\x00"
"\x01\x00\x40\x00"
"\x74\x00\x00\x00"
"\x7d\x00\x00\x00"
".georep"
".."
"."
"/"
DICT

# run TARGET CORPUS SEEDS: fuzz it for $seconds.
run() {
	local t=$1
	echo "fuzz: running fuzz_$t for ${seconds}s"
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	"$out/fuzz_$t" \
	    -max_total_time="$seconds" \
	    -max_len=65536 \
	    -rss_limit_mb=2048 \
	    -timeout=10 \
	    -error_exitcode=1 \
	    -timeout_exitcode=1 \
	    -print_final_stats=1 \
	    -dict="$out/$t.dict" \
	    -artifact_prefix="$out/artifacts/$t-" \
	    "$out/$2" "$out/$3"
}

for t in $targets; do
	case $t in
	frames) corpus=corpus seeds=seeds ;;
	replies) corpus=corpus-replies seeds=seeds-replies ;;
	*) echo "fuzz: no target $t (frames, replies)" >&2; exit 2 ;;
	esac
	mkdir -p "$out/$corpus"
	build "$t"
	seed "$t"
	run "$t" "$corpus" "$seeds"
	echo "fuzz: fuzz_$t: no crash in ${seconds}s"
done
