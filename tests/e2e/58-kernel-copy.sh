#!/usr/bin/env bash
# Large files to a local secondary on the same filesystem go as their
# descriptors (PUT_COPY) when that filesystem shares extents: the
# secondary clones them (FICLONE), and no byte goes through the pipe.
#   - on btrfs (a loop file): files over 1 MiB are said "copied by the
#     kernel" and share their extents with the primary's (filefrag);
#     small and sparse files go in frames, and so does a new version of a
#     file with two names (written in place on the secondary); the trees are
#     identical and verify finds nothing; a large file changed is cloned
#     again; a bandwidth limit keeps everything in frames; a secondary on
#     another filesystem gets frames;
#   - anywhere, with GEOREP_TEST_FDS=1 (the secondary offers the channel
#     without reflinks): the copy_file_range path, identical trees;
#   - a session on btrfs clones in its turns (filefrag).
# Refusals (a wrong hash, a descriptor that is no readable file, none at
# all, a copy in place) are in 60-hostile-frames.  No timing is asserted.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# mkbig FILE MIB SEED: that many MiB of random bytes
mkbig() {
	python3 -c 'import random, sys
r = random.Random(int(sys.argv[3]))
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2])):
        f.write(r.randbytes(1 << 20))' "$@"
}
# shared FILE: its extents are shared with another file (a reflink)
shared() { filefrag -v "$1" | grep -q shared; }
copied() { grep -Eq "^send $1 copied by the kernel$" "$T/out"; }
framed() { grep -Eq "^send $1$" "$T/out"; }

# tree DIR: two large files, a small one, a sparse one, a large file with
# two names
tree() {
	mkdir -p "$1/d"
	mkbig "$1/big" 3 1
	mkbig "$1/d/big2" 2 2
	echo small >"$1/small"
	truncate -s 8M "$1/sparse"
	echo middle | dd of="$1/sparse" bs=1 seek=4M conv=notrunc status=none
	mkbig "$1/linked" 2 3
	ln "$1/linked" "$1/d/linked2"
}

step "anywhere, the copy path forced (GEOREP_TEST_FDS=1)"
P=$T/p S=$T/s
tree "$P"
GEOREP_TEST_FDS=1 expect_rc 0 gsync -v "$P" "$S"
copied big || fail "big was not copied by the kernel: $(cat "$T/out")"
copied d/big2 || fail "d/big2 was not copied by the kernel"
framed small || fail "small did not go in frames"
framed sparse || fail "sparse did not go in frames"
expect_stderr "3 files of 7.0M copied by the kernel"
compare "$P" "$S"
expect_rc 0 "$GEOREP" verify --home "$T/home" "$P" "$S"
mkbig "$P/big" 4 4
GEOREP_TEST_FDS=1 expect_rc 0 gsync -v "$P" "$S"
copied big || fail "big, changed, was not copied by the kernel"
compare "$P" "$S"
# Without the switch, on a filesystem without reflinks: frames.
if ! cp --reflink=always "$P/small" "$T/reflink-probe" 2>/dev/null; then
	mkbig "$P/big" 3 5
	expect_rc 0 gsync -v "$P" "$S"
	framed big || fail "big was not sent in frames without reflinks"
	compare "$P" "$S"
fi

need_root
command -v mkfs.btrfs >/dev/null ||
	skip "mkfs.btrfs is not installed (tests/install-deps.sh installs btrfs-progs)"
command -v filefrag >/dev/null || skip "filefrag is not installed (e2fsprogs)"
truncate -s 512M "$T/btrfs.img"
mkfs.btrfs -q "$T/btrfs.img" >/dev/null 2>&1 || skip "mkfs.btrfs failed"
mkdir "$T/mnt"
mount -o loop "$T/btrfs.img" "$T/mnt" 2>/dev/null ||
	skip "cannot mount a btrfs loop file (no btrfs in this kernel?)"
at_exit "umount '$T/mnt'"

step "btrfs: large files cloned"
P=$T/mnt/p S=$T/mnt/s
rm -rf "$T/home"
tree "$P"
sync
expect_rc 0 gsync -v "$P" "$S"
copied big || fail "big was not cloned: $(cat "$T/out")"
copied d/big2 || fail "d/big2 was not cloned"
framed small || fail "small did not go in frames"
framed sparse || fail "sparse did not go in frames"
copied linked || fail "linked (new, two names) was not cloned"
shared "$S/big" || fail "big on the secondary shares no extent: $(filefrag -v "$S/big")"
shared "$S/d/big2" || fail "d/big2 on the secondary shares no extent"
compare "$P" "$S"
expect_rc 0 "$GEOREP" verify --home "$T/home" "$P" "$S"

step "btrfs: a changed large file cloned again; a hard-linked one in place"
mkbig "$P/big" 5 6
mkbig "$P/linked" 3 7
sync
expect_rc 0 gsync -v "$P" "$S"
copied big || fail "big, changed, was not cloned again"
framed linked || framed d/linked2 || fail "the hard-linked file was not sent in frames"
shared "$S/big" || fail "big, changed, shares no extent"
compare "$P" "$S"

step "btrfs: a bandwidth limit keeps the content in frames"
mkbig "$P/big" 3 8
sync
expect_rc 0 gsync -v --bwlimit 1G "$P" "$S"
framed big || fail "big was cloned under a bandwidth limit"
compare "$P" "$S"

step "btrfs primary, secondary elsewhere: frames"
S2=$T/s2
expect_rc 0 "$GEOREP" sync --home "$T/home2" --no-fsync -v "$P" "$S2"
framed big || fail "big was not sent in frames to another filesystem"
compare "$P" "$S2"

step "a session on btrfs clones in its turns"
export GEOREP_TEST_NO_FSYNC=1
at_exit 'G stop s >/dev/null 2>&1 || true'
P=$T/mnt/p3 S=$T/mnt/s3
mkdir -p "$P"
echo first >"$P/first"
expect_rc 0 G create s "$P" "$S" --config change_detector=inotify
expect_rc 0 G start s
checkpoint_and_compare
# Written whole beside the primary, then moved in: a file the session
# read while it was being written may go in frames (a clone that did not
# have the hash it was read with is sent again so), and the test is about
# the clone.
mkbig "$T/mnt/later.tmp" 3 9
mv "$T/mnt/later.tmp" "$P/later"
checkpoint_and_compare
shared "$S/later" || fail "a file the session sent shares no extent: $(filefrag -v "$S/later")"
expect_rc 0 G stop s
