#!/usr/bin/env bash
# zstd on the wire (proto.h, "Compression") and the bandwidth limit:
#   - a tree of compressible files (text, a generated tree) and
#     incompressible ones (random bytes, a gzip file) synced with
#     --compress, --compress=19, --no-compress and the default (local: off),
#     each compared; the -v line says how many bytes went on the wire for how
#     many bytes of frames: fewer with compression, the same without, and
#     the incompressible content sent as it was;
#   - --bwlimit: the replica is exact, and the -v line says the limit was
#     applied (the pump waited for it); no timing is asserted;
#   - changes after the first copy (the seeded workload) with compression;
#   - a session with the config keys compress and bwlimit: its log names
#     both, status shows fewer bytes on the wire than in the frames.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SEED=${SEED:-$RANDOM}; echo "seed $SEED" >&2
P=$T/p
# -v for its wire line (stderr); the changes it prints (stdout) are many.
vsync() { gsync -v "$@" >/dev/null; }

# The -v line: "the wire: HOW; W bytes written for F bytes of frames; B
# blocks compressed, N sent as they were; writing waited K times ...".
wire_field() {
	local line
	line=$(grep -E '^georep: the wire: ' "$T/err" | tail -1)
	[[ -n $line ]] || fail "no 'the wire:' line on stderr"
	case $1 in
	written) sed -E 's/.*; ([0-9]+) bytes written for.*/\1/' <<<"$line" ;;
	frames) sed -E 's/.* bytes written for ([0-9]+) bytes of frames.*/\1/' <<<"$line" ;;
	compressed) sed -E 's/.*; ([0-9]+) blocks? compressed.*/\1/' <<<"$line" ;;
	plain) sed -E 's/.*compressed, ([0-9]+) sent as.*/\1/' <<<"$line" ;;
	waits) sed -E 's/.*writing waited ([0-9]+) times?.*/\1/' <<<"$line" ;;
	*) fail "wire_field: unknown field $1" ;;
	esac
}

step "a tree with compressible and incompressible content"
mktree "$P" --seed "$SEED" --files 150
mkdir -p "$P/text" "$P/noise"
for i in $(seq 1 40); do
	seq $((i * 1000)) $((i * 1000 + 400 * i)) >"$P/text/numbers-$i.txt"
done
head -c $((3 << 20)) /dev/urandom >"$P/noise/random.bin"
seq 1 200000 | gzip -c >"$P/noise/numbers.gz"
head -c 300000 /dev/urandom >"$P/noise/small-random.bin"

step "--compress: fewer bytes on the wire, the noise sent as it was"
expect_rc 0 vsync --compress "$P" "$T/s1"
compare "$P" "$T/s1"
expect_stderr "^georep: the wire: zstd level 1; "
expect_stderr "on the wire for .* of frames$"
written=$(wire_field written) frames=$(wire_field frames)
echo "compress 1: $written bytes on the wire for $frames bytes of frames" >&2
((written < frames * 9 / 10)) ||
	check_failed "--compress: $written bytes written for $frames of frames"
(($(wire_field compressed) > 0)) || check_failed "no block was compressed"
(($(wire_field plain) > 0)) ||
	check_failed "the random content was compressed (no block sent as it was)"
level1=$written

step "--compress=19: a replica as exact, no more bytes than level 1"
expect_rc 0 vsync --compress=19 "$P" "$T/s19"
compare "$P" "$T/s19"
expect_stderr "^georep: the wire: zstd level 19; "
written=$(wire_field written) frames=$(wire_field frames)
echo "compress 19: $written bytes on the wire for $frames bytes of frames" >&2
((written <= level1)) ||
	check_failed "--compress=19 wrote $written bytes, level 1 wrote $level1"

step "--no-compress, and the default for a local secondary: nothing compressed"
expect_rc 0 vsync --no-compress "$P" "$T/s0"
compare "$P" "$T/s0"
expect_no_stderr "the wire:|on the wire"
expect_rc 0 gsync "$P" "$T/sdefault"
compare "$P" "$T/sdefault"
expect_no_stderr "on the wire"
step "--compress=off, --compress=auto (local: off) are the same"
expect_rc 0 vsync --compress=off "$P" "$T/soff"
expect_no_stderr "on the wire"
expect_rc 0 vsync --compress=auto "$P" "$T/sauto"
expect_no_stderr "on the wire"
compare "$P" "$T/sauto"

step "--bwlimit: exact, and applied"
expect_rc 0 vsync --compress --bwlimit 8M "$P" "$T/sbw"
compare "$P" "$T/sbw"
expect_stderr "^georep: the wire: zstd level 1, at most 8M/s \(bwlimit\); "
(($(wire_field waits) > 0)) ||
	check_failed "--bwlimit 8M: the pump never waited for the limit"
step "--bwlimit without compression; 0 is no limit"
expect_rc 0 vsync --bwlimit 16384K "$P" "$T/sbw2"
compare "$P" "$T/sbw2"
expect_stderr "^georep: the wire: at most 16M/s \(bwlimit\); "
written=$(wire_field written) frames=$(wire_field frames)
((written == frames)) ||
	check_failed "uncompressed, $written bytes written for $frames of frames"
expect_rc 0 vsync --bwlimit 0 "$P" "$T/sbw0"
expect_no_stderr "on the wire"
compare "$P" "$T/sbw0"

step "changes after the first copy, with compression"
for round in 1 2; do
	workload "$P" --seed $((SEED + round)) --ops 200
	expect_rc 0 vsync --compress=5 "$P" "$T/s1"
	compare "$P" "$T/s1"
done
expect_rc 0 vsync --compress "$P" "$T/s1"
expect_nothing_sent
compare "$P" "$T/s1"

step "a session with compress and bwlimit in its config"
export GEOREP_TEST_NO_FSYNC=1
sess=cz
S=$T/scz
at_exit 'G stop cz >/dev/null 2>&1 || true'
expect_rc 0 G create cz "$P" "$S" --config change_detector=crawl \
    --config crawl_interval=200ms --config compress=5 --config bwlimit=32M
expect_rc 0 G config cz compress
expect_stdout "^5$"
expect_rc 0 G start cz
set_checkpoint
wait_checkpoint 120
compare "$P" "$S"
no_failures
grep -q "the wire to $S: zstd level 5, at most 32M/s (bwlimit)" \
    "$T/home/sessions/cz/log" ||
	check_failed "the session's log does not name its wire: $(tail -5 "$T/home/sessions/cz/log")"
wb=$(field "d['wire_bytes']") wp=$(field "d['wire_plain_bytes']")
echo "session: $wb bytes on the wire for $wp bytes of frames" >&2
((wb > 0 && wb < wp)) ||
	check_failed "status: wire_bytes $wb, wire_plain_bytes $wp"
expect_rc 0 G status --detail cz
expect_stdout "on the wire: .* before compression"
step "a change in the running session, compressed too"
seq 1 50000 >"$P/late-compressible.txt"
set_checkpoint
wait_checkpoint 60
compare "$P" "$S"
expect_rc 0 G stop cz
