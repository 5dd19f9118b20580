#!/usr/bin/env bash
# sync_xattrs and sync_acls: a category switched off is neither sent nor
# touched on the secondary; the other one still replicates.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v setfacl >/dev/null || skip "setfacl is not installed"

export GEOREP_TEST_NO_FSYNC=1
P=$T/p S=$T/s
wait_checkpoint_own() {
	set_checkpoint
	wait_checkpoint 60
}
at_exit 'G stop s >/dev/null 2>&1 || true'

mkdir -p "$P/d"
echo data >"$P/f"
setfattr -n user.color -v blue "$P/f"
setfacl -m u:1234:r "$P/f"
expect_rc 0 G create s "$P" "$S" --config change_detector=crawl \
    --config crawl_interval=100ms --config sync_xattrs=false
expect_rc 0 G start s
wait_checkpoint_own
getfacl -cp "$S/f" | grep -q "user:1234:r" || fail "the ACL was not replicated"
getfattr -n user.color "$S/f" >/dev/null 2>&1 &&
	fail "user.color replicated with sync_xattrs=false"

step "an xattr set on the secondary is left alone; ACL changes still go"
setfattr -n user.local -v mine "$S/f"
setfacl -m u:4321:rw "$P/f"
wait_checkpoint_own
getfacl -cp "$S/f" | grep -q "user:4321:rw" || fail "the ACL change did not go"
[[ $(getfattr --only-values -n user.local "$S/f") == mine ]] ||
	fail "sync_xattrs=false removed the secondary's own xattr"

step "sync_acls=false, sync_xattrs=true: the opposite"
expect_rc 0 G stop s
expect_rc 0 G config s sync_xattrs true
expect_rc 0 G config s sync_acls false
setfacl -m u:999:r "$P/f"
expect_rc 0 G start s
wait_checkpoint_own
[[ $(getfattr --only-values -n user.color "$S/f") == blue ]] ||
	fail "user.color not replicated with sync_xattrs=true"
getfacl -cp "$S/f" | grep -q "user:999:r" &&
	fail "an ACL change replicated with sync_acls=false"
getfacl -cp "$S/f" | grep -q "user:4321:rw" ||
	fail "sync_acls=false removed the secondary's ACL"

step "a turn cut while it checks an unchanged file does not send it again"
# A ctime-only change has the turn hash the content (sent only if it
# changed).  Cut there, the file must not come back as a new inode: that
# would drop the secondary's own ACL, which sync_acls=false leaves alone.
ino=$(stat -c %i "$S/f")
expect_rc 0 G stop s
touch "$T/hold"
setfattr -n user.color -v green "$P/f"
GEOREP_TEST_HOLD=$T/hold expect_rc 0 G start s
wait_for "d['crawl'] is not None and d['data_pending'] + d['meta_pending'] > 0" \
    "the turn held before its data" 30
expect_rc 0 G stop s
rm "$T/hold"
expect_rc 0 G start s
wait_checkpoint_own
[[ $(getfattr --only-values -n user.color "$S/f") == green ]] ||
	fail "the xattr change after the cut turn did not go"
[[ $(stat -c %i "$S/f") == "$ino" ]] ||
	fail "the unchanged file was sent again after the cut turn"
getfacl -cp "$S/f" | grep -q "user:4321:rw" ||
	fail "the cut turn's recovery removed the secondary's ACL"
expect_rc 0 G stop s
