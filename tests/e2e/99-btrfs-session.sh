#!/usr/bin/env bash
# A session whose primary is in a btrfs subvolume: fanotify cannot mark
# the filesystem from there (the kernel answers EXDEV), the session falls
# back to inotify, and status says why in words, not "Invalid cross-device
# link".  Skipped without btrfs (tests/install-deps.sh installs
# btrfs-progs; the kernel needs btrfs) or without root.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root

command -v mkfs.btrfs >/dev/null ||
	skip "mkfs.btrfs is not installed (tests/install-deps.sh installs btrfs-progs)"
truncate -s 256M "$T/btrfs.img"
mkfs.btrfs -q "$T/btrfs.img" >/dev/null 2>&1 || skip "mkfs.btrfs failed"
mkdir "$T/mnt"
mount -o loop "$T/btrfs.img" "$T/mnt" 2>/dev/null ||
	skip "cannot mount a btrfs loop file (no btrfs in this kernel?)"
at_exit "umount '$T/mnt'"
btrfs subvolume create "$T/mnt/vol" >/dev/null
P=$T/mnt/vol/p S=$T/s
mkdir "$P"
echo one >"$P/one"

export GEOREP_TEST_NO_FSYNC=1
G() { "$GEOREP" "$1" --home "$T/home" "${@:2}"; }
st() { "$GEOREP" status --home "$T/home" --json b; }
field() { st | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
wait_for() {
	local cond=$1 what=$2 deadline=$((SECONDS + ${3:-60}))
	until [[ $(field "$cond") == True ]]; do
		((SECONDS < deadline)) || fail "no $what within ${3:-60}s: $(st)"
		sleep 0.05
	done
}
at_exit 'G stop b >/dev/null 2>&1 || true'

step "a session on a primary in a btrfs subvolume"
expect_rc 0 G create b "$P" "$S"
expect_rc 0 G start b
wait_for "d['state'] == 'Changelog Crawl' and d['last_synced'] is not None" \
	"first sync"
detector=$(field "d.get('detector', d.get('change_detector'))")
if [[ $detector == fanotify ]]; then
	echo "SKIP-PART: this kernel lets fanotify mark a btrfs subvolume" >&2
else
	detail=$(field "d['detail']")
	echo "detail: $detail" >&2
	[[ $detail == *"fanotify cannot mark a filesystem from a btrfs subvolume"* &&
		$detail == *"FAN_MARK_FILESYSTEM"* && $detail == *"$P"* ]] ||
		check_failed "status does not say why fanotify failed: $detail"
	[[ $detector == inotify ]] || check_failed "detector $detector, not inotify"
fi

step "... and it replicates"
echo two >"$P/two"
expect_rc 0 G checkpoint b now
wait_for "d['checkpoint']['completed']" "completed checkpoint"
compare "$P" "$S"
expect_rc 0 G stop b
