#!/usr/bin/env bash
# Build and run the fuzz target of the secondary's request handling and
# the frame parser (libFuzzer + ASan + UBSan; tests/fuzz/fuzz_frames.c).
#
#   tests/fuzz/run.sh                 build, seed, fuzz for FUZZ_SECONDS (60)
#   FUZZ_SECONDS=600 tests/fuzz/run.sh
#   tests/fuzz/run.sh CRASH_FILE...   build, then replay the given inputs
#                                     (FUZZ_VERBOSE=1: with the logs)
#
# Everything goes to build-fuzz/ (FUZZ_BUILD): the binary, the generated
# seeds, the corpus the fuzzer grows (kept between runs), crash artifacts,
# and the scratch directory the secondary works in.  As root the target
# runs in a mount namespace where nothing else is writable (see
# fuzz_frames.c).  Exits non-zero when the fuzzer finds a crash, a leak or
# a failed check.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
out=${FUZZ_BUILD:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
CC=${FUZZ_CC:-clang}

mkdir -p "$out/seeds" "$out/corpus" "$out/artifacts"
# The target's only writable place besides its scratch tmpfs, as root.
FUZZ_WRITABLE=$(cd "$out" && pwd)
export FUZZ_WRITABLE

# What src/secondary/secondary.c needs, and no more.
src="src/secondary/secondary.c src/protocol/proto.c src/common/codec.c
     src/common/attrs.c src/common/resolve.c src/common/xattrs.c
     src/common/names.c src/common/util.c src/common/log.c"
flags="-g -O1 -fno-omit-frame-pointer -std=gnu11 -Isrc -D_GNU_SOURCE
       -D_FILE_OFFSET_BITS=64 -Wall -Wextra -Wno-unused-parameter -Werror
       $(pkg-config --cflags libxxhash)"
libs=$(pkg-config --libs libxxhash)	# xattrs.c's digest

echo "fuzz: building $out/fuzz_frames"
# shellcheck disable=SC2086
$CC $flags -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined \
    -o "$out/fuzz_frames" tests/fuzz/fuzz_frames.c $src $libs

if [ $# -gt 0 ]; then
	exec "$out/fuzz_frames" "$@"
fi

echo "fuzz: writing seeds to $out/seeds"
# shellcheck disable=SC2086
$CC $flags -fsanitize=address,undefined -o "$out/seeds-gen" \
    tests/fuzz/seeds.c $src $libs
rm -f "$out/seeds"/*
"$out/seeds-gen" "$out/seeds"

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

echo "fuzz: running for ${seconds}s"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
"$out/fuzz_frames" \
    -max_total_time="$seconds" \
    -max_len=65536 \
    -rss_limit_mb=2048 \
    -timeout=10 \
    -print_final_stats=1 \
    -dict="$out/frames.dict" \
    -artifact_prefix="$out/artifacts/" \
    "$out/corpus" "$out/seeds"
echo "fuzz: no crash in ${seconds}s"
