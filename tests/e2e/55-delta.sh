#!/usr/bin/env bash
# rsync-style deltas (librsync) for large changed files the secondary holds:
#   - 1% of a 24 MiB file of random data rewritten in 100 places: sent as a
#     delta of at most 2% of the file, and the trees are identical;
#   - the file grown, then truncated: deltas, identical; a file whose
#     signature takes two pages (more than 64 MiB);
#   - a changed file below the threshold (1M) goes whole; --delta-threshold
#     lowers it; --no-delta sends whole; to a local secondary, deltas are
#     off by default (delta_threshold auto: on for a remote one, 56);
#   - a large file written to while its delta is made: once quiet, the
#     trees are identical;
#   - a large file with two names (written in place on the secondary): a
#     delta, patched aside and copied into the inode; both names see it,
#     refused too (then whole, in place);
#   - the secondary's copy replaced behind georep's back by another file (in
#     place, and by a rename): the signature is of what is there, so the
#     delta still makes exactly the primary's content;
#   - the secondary's copy changed between its signature and the patch (a
#     proxy on the wire does it): the patch is refused (it does not hash to
#     the primary's content), the file goes whole in the same run;
#   - a proxy that answers SIGNATURE with what is no signature: exit 76, a
#     protocol error naming it; nothing crashes;
#   - a session (inotify) that applies a delta, said in its debug log.
# No timing is asserted.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

P=$T/p S=$T/s
# One index for the pair, whether it is reached directly or through the
# proxy below.  Deltas to a local secondary are off by default (auto: on
# for a remote one): on here, as to a remote one.
gs() { gsync --name pair --delta-threshold 1M "$@"; }
mkdir -p "$P/d"

# rewrite FILE COUNT LEN SEED: COUNT places of LEN random bytes each.
rewrite() {
	python3 - "$@" <<'EOF'
import os, random, sys
path, count, length, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = random.Random(seed)
size = os.path.getsize(path)
with open(path, 'r+b') as f:
    for _ in range(count):
        f.seek(r.randrange(0, max(1, size - length)))
        f.write(r.randbytes(length))
EOF
}
# What -v said of FILE: "N M" for a delta of N bytes for M, or "whole".
sent_as() {
	local line
	line=$(grep -E "^send $1( |$)" "$T/out" | tail -1) ||
		fail "-v did not list $1 as sent: $(cat "$T/out")"
	if [[ $line =~ \(delta:\ ([0-9]+)\ bytes\ for\ ([0-9]+)\) ]]; then
		echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
	else
		echo whole
	fi
}
# expect_delta FILE MAX_PERCENT: FILE went as a delta of at most that much.
expect_delta() {
	local how n m
	how=$(sent_as "$1")
	[[ $how != whole ]] || { check_failed "$1 was sent whole, not as a delta"; return; }
	read -r n m <<<"$how"
	echo "  $1: delta of $n bytes for $m ($((n * 1000 / m))‰)" >&2
	((n * 100 <= m * $2)) ||
		check_failed "$1: a delta of $n bytes for $m (more than $2%)"
}
expect_whole() {
	[[ $(sent_as "$1") == whole ]] || check_failed "$1 went as a delta, not whole"
}

# A proxy between georep and its secondary, run as the ssh command of a
# fake remote (georep runs SSH_WORDS HOST "georep secondary 'PATH'"): it
# starts the real secondary on $S and passes frames both ways, except
# what MODE changes.
cat >"$T/proxy.py" <<'EOF'
import os, struct, subprocess, sys, threading
mode, georep, sec = sys.argv[1], sys.argv[2], sys.argv[3]
SIGNATURE, REPLY = 22, 64
child = subprocess.Popen([georep, 'secondary', sec], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
sig_ids = {}    # request id -> name
lock = threading.Lock()

def frames(f):
    buf = b''
    while True:
        while len(buf) >= 4 and len(buf) >= 4 + struct.unpack('<I', buf[:4])[0]:
            n = struct.unpack('<I', buf[:4])[0]
            yield buf[:4 + n]
            buf = buf[4 + n:]
        chunk = os.read(f, 1 << 20)
        if not chunk:
            return
        buf += chunk

def name_of(payload):
    # oref: u8 base, str parent, u64 psino, str name
    plen = struct.unpack('<I', payload[1:5])[0]
    p = 5 + plen + 8
    nlen = struct.unpack('<I', payload[p:p + 4])[0]
    parent = payload[5:5 + plen]
    name = payload[p + 4:p + 4 + nlen]
    return os.path.join(parent, name) if parent else name

def upstream():
    for f in frames(0):
        if f[4] == SIGNATURE:
            with lock:
                sig_ids[struct.unpack('<I', f[5:9])[0]] = name_of(f[9:])
        child.stdin.write(f)
        child.stdin.flush()
    child.stdin.close()

threading.Thread(target=upstream, daemon=True).start()
for f in frames(child.stdout.fileno()):
    rid = struct.unpack('<I', f[5:9])[0]
    with lock:
        name = sig_ids.pop(rid, None)
    if name is not None and f[4] == REPLY:
        if mode == 'basis-changes':
            # The copy changes once it is signed: its patch cannot hash
            # to the primary's content.
            with open(os.path.join(os.fsencode(sec), name), 'r+b') as g:
                g.seek(4096)
                g.write(b'changed behind the signature' * 100)
        elif mode == 'sig-junk':
            err, val, n = struct.unpack('<iQI', f[9:25])
            junk = b'rs\x01G' + b'\xff' * 40
            body = struct.pack('<iQI', 0, val, len(junk)) + junk
            f = struct.pack('<IBI', 5 + len(body), REPLY, rid) + body
        elif mode == 'sig-big':
            body = struct.pack('<iQI', 0, 1, 1 << 21) + b'\0' * (1 << 21)
            f = struct.pack('<IBI', 5 + len(body), REPLY, rid) + body
    os.write(1, f)
sys.exit(child.wait())
EOF
proxy() { echo "python3 $T/proxy.py $1 $GEOREP $S"; }

step "a first sync: everything new goes whole"
head -c $((24 << 20)) /dev/urandom >"$P/big"
head -c $((600 << 10)) /dev/urandom >"$P/small"
head -c $((3 << 20)) /dev/urandom >"$P/d/grow"
head -c $((2 << 20)) /dev/urandom >"$P/d/other"
expect_rc 0 gs -v "$P" "$S"
expect_whole big
compare "$P" "$S"

step "1% of a 24 MiB file rewritten in 100 places: a delta of at most 2%"
rewrite "$P/big" 100 $(((24 << 20) / 10000)) 1
expect_rc 0 gs -v "$P" "$S"
expect_delta big 2
expect_stderr "1 file of 24.0M as deltas"
compare "$P" "$S"

step "a file grown, then truncated"
rewrite "$P/d/grow" 5 1000 2
head -c $((1 << 20)) /dev/urandom >>"$P/d/grow"
expect_rc 0 gs -v "$P" "$S"
expect_delta d/grow 40
compare "$P" "$S"
truncate -s $((1500 << 10)) "$P/d/grow"
expect_rc 0 gs -v "$P" "$S"
expect_delta d/grow 5
compare "$P" "$S"
truncate -s 1M "$P/d/grow"	# exactly the threshold
rewrite "$P/d/grow" 1 10 3
expect_rc 0 gs -v "$P" "$S"
expect_delta d/grow 5
compare "$P" "$S"

step "a file of two signature pages (more than 64 MiB): a delta"
head -c $((72 << 20)) /dev/urandom >"$P/d/huge"
expect_rc 0 gs "$P" "$S"
rewrite "$P/d/huge" 30 1000 13
expect_rc 0 gs -v "$P" "$S"
expect_delta d/huge 2
compare "$P" "$S"
rm "$P/d/huge"

step "below the threshold: whole; --delta-threshold lowers it"
rewrite "$P/small" 3 100 4
expect_rc 0 gs -v "$P" "$S"
expect_whole small
compare "$P" "$S"
rewrite "$P/small" 3 100 5
expect_rc 0 gs -v --delta-threshold 512K "$P" "$S"
expect_delta small 10
compare "$P" "$S"

step "to a local secondary, by default (auto): whole"
rewrite "$P/big" 10 100 14
expect_rc 0 gsync --name pair -v "$P" "$S"
expect_whole big
compare "$P" "$S"

step "--no-delta sends whole"
rewrite "$P/big" 10 100 6
expect_rc 0 gs -v --no-delta "$P" "$S"
expect_whole big
[[ $(summary_field "bytes sent") == 24.0M ]] ||
	check_failed "--no-delta sent $(summary_field "bytes sent"), not 24.0M"
compare "$P" "$S"
expect_rc 64 gs --delta-threshold 1X "$P" "$S"
expect_stderr "--delta-threshold '1X': expected a size"

step "a large file written to while its delta is made"
# A writer for 3 s: the sync meanwhile sends it or says it kept changing
# (74); once quiet, a sync makes the trees identical.
python3 - "$P/big" <<'EOF2' &
import os, random, sys, time
end = time.monotonic() + 3
r = random.Random(15)
size = os.path.getsize(sys.argv[1])
with open(sys.argv[1], 'r+b') as f:
    while time.monotonic() < end:
        f.seek(r.randrange(0, size - 4096))
        f.write(r.randbytes(4096))
        f.flush()
        time.sleep(0.001)
EOF2
writer=$!
at_exit "kill $writer 2>/dev/null || true"
sleep 0.2
run gs -v "$P" "$S"
[[ $RC == 0 || $RC == 74 ]] || check_failed "exit $RC while the file changed"
wait "$writer"
expect_rc 0 gs -v "$P" "$S"
compare "$P" "$S"

step "a large file with two names: a delta, copied in place; both names see it"
ln "$P/d/other" "$P/other-link"
expect_rc 0 gs "$P" "$S"
ino=$(stat -c %i "$S/d/other")
rewrite "$P/d/other" 4 100 7
expect_rc 0 gs -v "$P" "$S"
expect_delta d/other 5
compare "$P" "$S"
[[ $(stat -c %i "$S/d/other") == "$ino" ]] ||
	check_failed "the file with two names is another inode on the secondary"
# Its delta refused (the copy changed once signed): whole, in place.
rewrite "$P/d/other" 4 100 16
expect_rc 0 gs -v --no-compress --ssh "$(proxy basis-changes)" "$P" "fake:$S"
expect_stderr "delta: (d/other|other-link): the secondary refused it"
compare "$P" "$S"
[[ $(stat -c %i "$S/d/other") == $(stat -c %i "$S/other-link") ]] ||
	check_failed "the two names no longer share an inode on the secondary"
rm "$P/other-link"

step "the secondary's copy replaced behind georep's back"
# In place (the inode the index knows), with other content of another size.
head -c $((20 << 20)) /dev/urandom >"$S/big"
rewrite "$P/big" 2 100 8
expect_rc 0 gs -v "$P" "$S"
expect_delta big 110
compare "$P" "$S"
# By a rename: another inode, half of it the primary's content.
{ head -c $((12 << 20)) "$P/big"; head -c $((12 << 20)) /dev/urandom; } >"$T/other"
mv "$T/other" "$S/big"
rewrite "$P/big" 2 100 9
expect_rc 0 gs -v "$P" "$S"
expect_delta big 60
compare "$P" "$S"


step "the copy changes between its signature and the patch: sent whole"
rewrite "$P/big" 3 100 10
expect_rc 0 gs -v --no-compress --ssh "$(proxy basis-changes)" "$P" "fake:$S"
expect_stderr "delta: big: the secondary refused it \(.*not the primary's content.*\): sent whole"
expect_no_stderr "as deltas"
expect_whole big
compare "$P" "$S"

step "a reply to SIGNATURE that is no signature: a protocol error"
for mode in sig-junk sig-big; do
	rewrite "$P/big" 3 100 11
	expect_rc 76 gs --no-compress --ssh "$(proxy $mode)" "$P" "fake:$S"
	expect_stderr "protocol error: a reply to SIGNATURE"
	expect_no_stderr "Segmentation|Aborted|sanitizer"
done
expect_rc 0 gs --no-compress --ssh "$(proxy pass)" "$P" "fake:$S"
compare "$P" "$S"

step "a session (inotify) applies a delta"
export GEOREP_TEST_NO_FSYNC=1
P2=$T/p2 S2=$T/s2
mkdir -p "$P2"
head -c $((16 << 20)) /dev/urandom >"$P2/vm.img"
at_exit 'G stop s >/dev/null 2>&1 || true'
expect_rc 0 G create s "$P2" "$S2" --config change_detector=inotify \
    --config log_level=debug --config crawl_interval=1h
expect_rc 0 G config s delta_threshold
expect_stdout "^auto$"
expect_rc 0 G config s delta_threshold 1024K
expect_rc 0 G config s delta_threshold
expect_stdout "^1M$"
expect_rc 0 G start s
P=$P2 S=$S2
checkpoint_and_compare
rewrite "$P2/vm.img" 50 100 12
checkpoint_and_compare
grep -E "delta: vm.img: [0-9]+ bytes for a file of $((16 << 20))" \
    "$T/home/sessions/s/log" >&2 ||
	check_failed "the session's log says no delta for vm.img"
expect_rc 0 G stop s
