#!/usr/bin/env bash
# A replica that is not exact never exits 0:
#   - as nobody, a secondary cannot give files another owner nor make
#     device nodes: one warning per category (how many, the first path),
#     exit 74, on every run while it lasts; --no-owners / --no-devices
#     leave them out on purpose (exit 0, and nothing sent again); files of
#     nobody's own lose nothing (exit 0);
#   - a filesystem mounted inside the primary is not entered: every one is
#     named, exit 74; with --one-file-system (-x), listed, exit 0.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root

chmod 755 "$T"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
nsync() { as_nobody "$GEOREP" sync --home "$T/nobody-home" --no-fsync "$@"; }
nobody_dirs() { mkdir -p "$@"; chown nobody:nogroup "$@"; }

step "as nobody: another uid's file and device nodes: rc 74, named"
nobody_dirs P P/dev S nobody-home
echo mine >P/mine
echo theirs >P/theirs
mkfifo P/fifo
mknod P/dev/null c 1 3
mknod P/dev/zero c 1 5
chown nobody:nogroup P/mine P/fifo P/dev/null P/dev/zero
chown 1234:1234 P/theirs
touch -d 2010-01-01 P/dev P
expect_rc 74 nsync P S
expect_stderr '1 owner not replicated .*the first: theirs; --no-owners'
expect_stderr '2 device nodes not replicated .*the first: dev/(null|zero); --no-devices'
expect_stderr 'not replicated: 1 owner, 2 device nodes'
[[ -p S/fifo ]] || check_failed "the fifo was not made"
cmp P/theirs S/theirs || check_failed "theirs was not sent"
compare P S --exclude theirs --exclude dev

step "... and again: still not exact, still rc 74"
expect_rc 74 nsync P S
expect_stderr '1 owner not replicated'
expect_stderr '2 device nodes not replicated'

step "... --no-owners leaves the devices: rc 74"
expect_rc 74 nsync --no-owners P S
expect_no_stderr 'owner not replicated'
expect_stderr '2 device nodes not replicated'
step "... --no-devices leaves the owner: rc 74"
expect_rc 74 nsync --no-devices P S
expect_stderr '1 owner not replicated'
expect_no_stderr 'device nodes? not replicated'
step "... both left out on purpose: rc 0, and then nothing is sent"
expect_rc 0 nsync --no-owners --no-devices P S
expect_no_stderr 'not replicated'
expect_rc 0 nsync -v --no-owners --no-devices P S
[[ ! -s $T/out ]] || check_failed "a second run sent: $(cat "$T/out")"
expect_nothing_sent
[[ $(summary_field "attributes set") == 0 ]] ||
	check_failed "attributes set again"
step "... without --no-owners again: the owner is missed again"
expect_rc 74 nsync --no-devices P S
expect_stderr '1 owner not replicated .*the first: theirs'

step "as nobody, nobody's own files and a fifo: nothing is lost, rc 0"
nobody_dirs O O/sub OS
echo a >O/a
echo b >O/sub/b
mkfifo O/fifo
chown -R nobody:nogroup O
expect_rc 0 nsync O OS
expect_no_stderr 'not replicated'
compare O OS

step "filesystems mounted inside the primary: each one named, rc 74"
mkdir -p M/m1 M/sub/m2 M/keep
echo k >M/keep/f
mount -t tmpfs tmpfs M/m1
mount -t tmpfs tmpfs M/sub/m2
at_exit "umount '$T/M/m1' '$T/M/sub/m2'"
echo in >M/m1/inside
echo in >M/sub/m2/inside
expect_rc 74 gsync M MS
expect_stderr 'm1: a mount point \(another filesystem\): not descending; --one-file-system'
expect_stderr 'sub/m2: a mount point \(another filesystem\): not descending; --one-file-system'
expect_stderr 'not entered: m1, sub/m2'
[[ -d MS/m1 && -d MS/sub/m2 && ! -e MS/m1/inside ]] ||
	check_failed "the mount points should be made, not entered"
compare M MS --exclude m1 --exclude sub/m2
step "... with --one-file-system (-x): listed, rc 0"
expect_rc 0 gsync --one-file-system M MS
expect_stderr 'm1: a mount point \(another filesystem\): not descending \(--one-file-system\)'
expect_stderr 'not entered: m1, sub/m2'
expect_no_stderr 'error'
expect_rc 0 gsync -x M MS
expect_nothing_sent
