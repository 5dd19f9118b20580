#!/usr/bin/env bash
# Adopting a secondary that already holds a copy (georep sync --adopt,
# create --adopt), resuming a first sync that was cut off, a lost index,
# and --checksum:
#   - copies made by rsync -aHAX, by tar and by cp -a are adopted: nothing
#     is sent, every file keeps its inode and ctime on the secondary;
#   - on the rsync copy, a difference of each kind planted (a file missing,
#     an extra file and an extra tree, content of another size, a mode, an
#     owner, an xattr, a symlink target, a file where the primary has a
#     directory, a hard link broken apart): adopted, the trees are then
#     identical, and the files that matched kept their inode and ctime; a
#     change of the same size and mtime is found only by --checksum, which
#     fixes it;
#   - --ignore-deletes keeps the extra names;
#   - a lost index (a new --home): adopted without being asked, nothing
#     sent;
#   - a first sync killed half way: the next one sends only the rest (the
#     bytes counted); a large file cut in the middle continues from the
#     bytes already written (kept in the staging area, checked by the
#     content hash: a partial copy of another content is only a basis);
#   - a session created with --adopt adopts at its first start.
# The refusal without --adopt is in 40-badinput.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root
command -v setfattr >/dev/null || skip "setfattr is not installed (attr)"

P=$T/p
# The primary: directories, files of several sizes, symlinks, a hard-linked
# pair across directories, modes, an owner, an xattr, a fifo.
mkdir -p "$P/d1/sub" "$P/d2" "$P/dir2/inner" "$P/empty"
for i in 1 2 3 4 5 6 7 8; do
	head -c $((i * 1000 + 7)) /dev/urandom >"$P/d1/f$i"
done
head -c 300000 /dev/urandom >"$P/d1/sub/big"
echo inner >"$P/dir2/inner/x"
echo linked >"$P/d1/h1"
ln "$P/d1/h1" "$P/d2/h2"
ln -s d1/f1 "$P/link1"
ln -s missing "$P/dangling"
chmod 750 "$P/d2"
chmod 640 "$P/d1/f6"
chown 1234:5678 "$P/d1/f7"
setfattr -n user.color -v blue "$P/d1/f8"
mkfifo "$P/fifo"
touch -d 2020-02-02 "$P/d1/f1"

# stats DIR: inode and ctime of the files no difference is planted in
KEEP="d1/f1 d1/f3 d1/f7 d1/sub/big dir2/inner/x d1/h1"
stats() {
	local f
	for f in $KEEP; do
		[[ ! -e $1/$f ]] || stat -c "%i %Z $f" "$1/$f"
	done
}
same_stats() { # DIR BEFORE
	stats "$1" >"$T/stats.after"
	diff "$2" "$T/stats.after" >&2 ||
		check_failed "files that matched were rewritten or touched on $1"
}

for how in rsync tar cp; do
	step "a copy made by $how is adopted as it is"
	S=$T/s-$how
	case $how in
	rsync) rsync -aHAX "$P/" "$S/" ;;
	tar) mkdir "$S" && (cd "$P" && tar --format=posix --xattrs --acls -cf - .) |
		(cd "$S" && tar --xattrs --acls -xpf -) ;;
	cp) cp -a "$P" "$S" ;;
	esac
	stats "$S" >"$T/stats.before"
	expect_rc 0 gsync --name "$how" --adopt "$P" "$S"
	expect_nothing_sent
	expect_stderr "adopted .*, 0 removed"
	compare "$P" "$S"
	same_stats "$S" "$T/stats.before"
	expect_rc 0 gsync --name "$how" "$P" "$S"
	expect_nothing_sent
done

step "a copy with a difference of each kind"
S=$T/s
rsync -aHAX "$P/" "$S/"
rm "$S/d1/f2"
echo extra >"$S/extra"
mkdir -p "$S/extratree/a/b" && echo deep >"$S/extratree/a/b/c"
echo longer >>"$S/d1/f4"
chmod 600 "$S/d1/f5"
chown 4321:4321 "$S/d1/f6"
setfattr -n user.planted -v x "$S/d1/f8"
ln -sfn d1/f3 "$S/link1"
rm -rf "$S/dir2" && echo "a file" >"$S/dir2"
rm "$S/d2/h2" && cp "$S/d1/h1" "$S/d2/h2"
# The same size and mtime, other bytes: only a checksum tells.
python3 - "$S/d1/f3" <<'EOF'
import os, sys
p = sys.argv[1]
st = os.stat(p)
with open(p, 'r+b') as f:
    b = f.read(1)
    f.seek(0)
    f.write(bytes([b[0] ^ 0xff]))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
EOF
# (Not d1/h1: linking d2/h2 to it again moves its ctime.)
KEEP="d1/f1 d1/f7 d1/sub/big" stats "$S" >"$T/stats.before"
expect_rc 0 gsync --adopt -v "$P" "$S"
expect_stderr "removing extra from the secondary: not on the primary"
expect_stderr "removing extratree from the secondary"
expect_stderr "removing dir2 from the secondary: another type"
expect_stderr "removing link1 from the secondary: another symlink target"
expect_stderr "removing d2/h2 from the secondary: another inode"
grep -Eq "^send d1/f4$" "$T/out" || check_failed "d1/f4 (another size) was not sent"
grep -Eq "^send d1/f2$" "$T/out" || check_failed "d1/f2 (missing) was not sent"
grep -Eq "^send d1/f(1|7)$|^send d1/sub/big$" "$T/out" &&
	check_failed "a file that matched was sent: $(cat "$T/out")"
KEEP="d1/f1 d1/f7 d1/sub/big" same_stats "$S" "$T/stats.before"
[[ $(stat -c %i "$S/d1/h1") == $(stat -c %i "$S/d2/h2") ]] ||
	check_failed "d1/h1 and d2/h2 are not one inode again"
# All but d1/f3, whose change has its size and mtime.
python3 "$TOOLS/treecmp.py" "$P" "$S" >"$T/cmp" 2>&1 &&
	check_failed "d1/f3 (same size and mtime) was found without --checksum"
grep -q "d1/f3" "$T/cmp" || check_failed "the trees differ elsewhere: $(cat "$T/cmp")"
[[ $(grep -c . "$T/cmp") -le 2 ]] || check_failed "more differs: $(cat "$T/cmp")"
expect_rc 0 gsync --checksum -v "$P" "$S"
grep -Eq "^send d1/f3$" "$T/out" || check_failed "--checksum did not send d1/f3"
expect_stderr "compared by checksum"
compare "$P" "$S"
expect_rc 0 gsync "$P" "$S"
expect_nothing_sent

step "--ignore-deletes keeps what the primary does not have"
S=$T/s-keep
rsync -aHAX "$P/" "$S/"
echo extra >"$S/extra"
expect_rc 0 gsync --name keep --adopt --ignore-deletes "$P" "$S"
[[ -e $S/extra ]] || check_failed "extra was removed with --ignore-deletes"

step "a lost index: adopted without being asked, nothing sent"
S=$T/s-rsync
stats "$S" >"$T/stats.before"
expect_rc 0 "$GEOREP" sync --home "$T/home2" --no-fsync "$P" "$S"
expect_stderr "index of this pair is missing.*adopting"
expect_nothing_sent
same_stats "$S" "$T/stats.before"
compare "$P" "$S"

step "a first sync killed half way resumes: only the rest is sent"
Q=$T/q S=$T/s-resume
mkdir -p "$Q/a" "$Q/b"
for i in $(seq 1 20); do
	head -c 1048576 /dev/urandom >"$Q/a/f$i"
	head -c 1048576 /dev/urandom >"$Q/b/f$i"
done
run env GEOREP_TEST_CRASH=reply:22 "$GEOREP" sync --home "$T/home" \
	--no-fsync --name resume --sync-jobs 1 "$Q" "$S"
((RC == 137)) || fail "exit status $RC, expected 137 (killed at reply 22)"
# Its secondary applies what was already in the pipe, then lets go of
# the secondary (one writer at a time): counted after that.
flock "$S/.georep/lock" true
there=$(find "$S" -path "$S/.georep" -prune -o -type f -print | wc -l)
((there >= 10 && there < 40)) || fail "$there files on the secondary at the kill"
expect_rc 0 gsync --name resume -v "$Q" "$S"
expect_stderr "the first sync into .* did not finish: resuming it"
sent=$(grep -c '^send ' "$T/out" || true)
((sent == 40 - there)) ||
	check_failed "$sent files sent after the kill, $((40 - there)) were missing"
compare "$Q" "$S"

step "a session created with --adopt adopts at its first start"
export GEOREP_TEST_NO_FSYNC=1
at_exit 'G stop s >/dev/null 2>&1 || true'
S=$T/s-session
rsync -aHAX "$P/" "$S/"
echo extra >"$S/extra"
stats "$S" >"$T/stats.before"
expect_rc 0 G create --adopt s "$P" "$S" --config change_detector=inotify
expect_rc 0 G start s
checkpoint_and_compare
[[ ! -e $S/extra ]] || check_failed "the session's adoption kept extra"
same_stats "$S" "$T/stats.before"
grep -q "adopted $S" "$T/home/sessions/s/log" ||
	check_failed "the session's log does not say it adopted $S"
expect_rc 0 G stop s

step "a session's first crawl killed half way resumes: what is there is kept"
Q=$T/q2 S=$T/s-resume2 sess=r
mkdir -p "$Q/a" "$Q/b"
for i in $(seq 1 20); do
	head -c 1048576 /dev/urandom >"$Q/a/f$i"
	head -c 1048576 /dev/urandom >"$Q/b/f$i"
done
at_exit 'G stop r >/dev/null 2>&1 || true'
expect_rc 0 G create r "$Q" "$S" --config change_detector=inotify \
	--config sync_jobs=1
touch "$T/crash-once"
GEOREP_TEST_CRASH=reply:22 GEOREP_TEST_CRASH_FLAG=$T/crash-once \
	expect_rc 0 G start r
P=$Q checkpoint_and_compare
[[ ! -e $T/crash-once ]] || fail "the worker was not killed at reply 22"
log=$T/home/sessions/r/log
grep -q "the first sync into .* did not finish: resuming it" "$log" ||
	check_failed "the session's log does not say it resumed: $(tail -20 "$log")"
kept=$(sed -nE 's/.*adopted .*: ([0-9]+) names kept.*/\1/p' "$log" | tail -1)
[[ -n $kept && $kept -ge 10 ]] ||
	check_failed "the resumed session kept ${kept:-no} names of what was there"
expect_rc 0 G stop r

step "a large file cut in the middle: the next run sends only the rest"
B=$T/b S=$T/s-partial
mkdir -p "$B"
head -c 40000000 /dev/urandom >"$B/big"
echo small >"$B/small"
run env GEOREP_TEST_CRASH=content-at:20000000 "$GEOREP" sync --home "$T/home" \
	--no-fsync --name partial "$B" "$S"
((RC == 137)) || fail "exit status $RC, expected 137 (killed in the middle of big)"
flock "$S/.georep/lock" true
ls "$S/.georep/stage" | grep -q '^partial\.' ||
	fail "no partial copy kept in the staging area: $(ls -la "$S/.georep/stage")"
expect_rc 0 gsync --name partial -v "$B" "$S"
line=$(grep -E '^send big ' "$T/out") || fail "big was not sent: $(cat "$T/out")"
[[ $line =~ \(resumed:\ ([0-9]+)\ bytes\ for\ 40000000\) ]] ||
	fail "big was not resumed: $line"
((BASH_REMATCH[1] < 30000000)) ||
	check_failed "resuming big sent ${BASH_REMATCH[1]} bytes of 40000000"
compare "$B" "$S"
[[ -z $(ls "$S/.georep/stage") ]] ||
	check_failed "left in the staging area: $(ls "$S/.georep/stage")"
step "... a partial copy that does not match is not used"
run env GEOREP_TEST_CRASH=content-at:20000000 "$GEOREP" sync --home "$T/home" \
	--no-fsync --name partial2 "$B" "$T/s-partial2"
flock "$T/s-partial2/.georep/lock" true
head -c 40000000 /dev/urandom >"$B/big"
expect_rc 0 gsync --name partial2 -v "$B" "$T/s-partial2"
compare "$B" "$T/s-partial2"
