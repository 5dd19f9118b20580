#!/usr/bin/env bash
# A secondary on a full filesystem: the sync fails and says so, no file on the
# secondary holds partial content under its real name, and once there is room
# the next sync completes the replica.  The same for updates of files that
# are already there: each holds its old or its new content, never a mix.
. "$(dirname "$0")/lib.sh"

mkdir small
mount -t tmpfs -o size=8m,mode=755 tmpfs small 2>"$T/err" ||
	skip "cannot mount a tmpfs: $(cat "$T/err")"
at_exit "umount -l '$T/small'"

# Every regular file under $2 (its .georep aside) is a file of $1 with the
# same content, or (with OLD=dir) a file of $OLD with the same content.
check_no_partial() {
	python3 - "$@" <<'PY' >"$T/partial" 2>&1 || {
import os, sys
p, s = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
old = os.fsencode(sys.argv[3]) if len(sys.argv) > 3 else None
def same(a, b):
    try:
        with open(a, "rb") as f, open(b, "rb") as g:
            return f.read() == g.read()
    except FileNotFoundError:
        return False
bad = 0
for d, dirs, files in os.walk(s):
    if d == s and b".georep" in dirs:
        dirs.remove(b".georep")
    for n in files:
        full = os.path.join(d, n)
        if not os.path.isfile(full) or os.path.islink(full):
            continue
        rel = os.path.relpath(full, s)
        if same(os.path.join(p, rel), full):
            continue
        if old is not None and same(os.path.join(old, rel), full):
            continue
        print("partial or foreign content: %s (%d bytes)" % (
            rel.decode(errors="replace"), os.path.getsize(full)))
        bad += 1
sys.exit(1 if bad else 0)
PY
		sed 's/^/  /' "$T/partial" >&2
		check_failed "a file on the secondary has content that is neither old nor new"
	}
}

step "a primary of about 20 MiB"
mkdir -p P/a P/b
for i in $(seq 1 24); do
	head -c $((600 * 1024 + i)) /dev/urandom >P/a/f$i
done
head -c $((5 * 1024 * 1024)) /dev/urandom >P/b/big
for i in $(seq 1 50); do echo "small $i" >P/b/s$i; done
du -sh P >&2

step "sync into an 8 MiB filesystem"
run gsync P small/S
((RC != 0)) || fail "the sync succeeded on a full filesystem"
((RC == 74)) || check_failed "exit status $RC, expected 74 (some paths failed)"
expect_stderr 'No space left'
check_no_partial P small/S
df -k small >&2

step "with room, the next sync completes"
mount -o remount,size=64m small
expect_rc 0 gsync P small/S
compare P small/S
expect_rc 0 gsync P small/S
expect_nothing_sent

step "updates of existing files on a full filesystem"
rm -rf old
cp -a small/S old
rm -rf old/.georep
for i in 1 2 3 4 5 6; do
	head -c $((700 * 1024)) /dev/urandom >P/a/f$i
done
head -c 1000000 /dev/urandom >>P/b/big
printf 'new content' >P/b/s1
# Fill the filesystem but for about 1 MiB.
avail=$(df -k --output=avail small | tail -1)
fallocate -l $(((avail - 1024) * 1024)) small/filler ||
	head -c $(((avail - 1024) * 1024)) /dev/zero >small/filler || true
df -k small >&2
run gsync P small/S
((RC != 0)) || fail "the sync succeeded on a full filesystem"
((RC == 74)) || check_failed "exit status $RC, expected 74 (some paths failed)"
expect_stderr 'No space left'
OLD=old check_no_partial P small/S old

step "with room again, the next sync completes"
rm small/filler
expect_rc 0 gsync P small/S
compare P small/S

step "a session: a checkpoint set while a write fails for want of room"
# completes once there is room, with nothing else changed on the primary
# (the retry's turn, not a new change, is what moves the sync point).
at_exit 'G stop s >/dev/null 2>&1 || true'
P=$T/P2 S=$T/small/S2
mkdir -p "$P"
echo first >"$P/first"
expect_rc 0 G create s "$P" "$S" --config change_detector=inotify \
	--config crawl_interval=1h
expect_rc 0 G start s
checkpoint_and_compare
avail=$(df -k --output=avail small | tail -1)
head -c $(((avail - 256) * 1024)) /dev/zero >small/filler 2>/dev/null || true
head -c $((2 << 20)) /dev/urandom >"$T/big"
mv "$T/big" "$P/big"
wait_for "d['failures']['count'] > 0 and any('No space left' in f['error'] \
for f in d['failures']['last'])" "an ENOSPC failure in status" 30
set_checkpoint
wait_for "d['checkpoint']['time'] == '$cp_time'" "the checkpoint pending" 30
[[ $(field "d['checkpoint']['completed']") == False ]] ||
	fail "a checkpoint completed past a parked failure: $(st)"
rm small/filler
wait_checkpoint 60
compare "$P" "$S"
no_failures
expect_rc 0 G stop s
