#!/usr/bin/env bash
# georep sync to a remote secondary ([USER@]HOST:PATH) over an sshd of the
# scenario's own on 127.0.0.1 (lib_ssh.sh: its own keys, config and
# known_hosts; the system's sshd and /etc/ssh are never used):
#   - a first sync of a generated tree, rounds of the seeded workload each
#     followed by a sync and a compare, a rerun that sends nothing;
#   - a remote path with a space, a quote and a '$', and an ssh command
#     with a quoted word;
#   - a forced command (command="georep secondary DIR" in authorized_keys):
#     DIR is served; another path is refused (exit 77, both paths named)
#     and nothing is written anywhere;
#   - as a non-root account (georep-test, created if missing and then
#     removed): its own files replicate exactly; another uid's file and a
#     device node: exit 74 with one warning each; --no-owners and
#     --no-devices: exit 0;
#   - what goes wrong before the protocol: a closed port, a key the server
#     refuses, a changed host key (exit 69, what ssh said, no "protocol
#     error"), a host without georep in the PATH (exit 69, "no georep on"),
#     a primary that speaks a newer protocol (exit 76, both versions named);
#   - a secondary bound to one primary refuses another (exit 65); --force
#     takes it over;
#   - the link cut (ssh killed) in the middle of a large file: exit 69 with
#     the reason, no partial file under a real name, and a rerun converges,
#     sending only what the cut did not leave on the secondary;
#   - a copy made by cp -a adopted over ssh (--adopt: one file of another
#     size sent, one extra removed), and --checksum finding a change of the
#     same size and mtime with only checksums on the wire.
# Every wait is a condition with a deadline.
#
# SEED=N replays a run; BIG_MB sets the large file's size (200 MiB, as the
# issue asks; 200 under ASan too: a transfer takes a few seconds there).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_ssh.sh"

SEED=${SEED:-$RANDOM}; echo "seed $SEED" >&2
BIG_MB=${BIG_MB:-200}
ssh_setup

P=$T/p S=$T/s
ssync() { gsync --ssh "$SSH_CMD" "$@"; }
# Connections the sshd accepted so far (each sync is one).
sessions_seen() { grep -c "^Starting session: command for" "$SSH_DIR/log" || true; }
# What ssh and georep say when ssh fails, and what they never say then.
expect_unreachable() {
	expect_stderr "the secondary \\($SSH_HOST:[^)]*\\) could not be reached: ssh to $SSH_HOST failed \\(exit 255\\)"
	expect_no_stderr "protocol error"
}

step "a first sync over ssh"
mktree "$P" --seed "$SEED" --files 300
before=$(sessions_seen)
expect_rc 0 ssync "$P" "$SSH_HOST:$S"
(($(sessions_seen) == before + 1)) ||
	check_failed "the sshd started no session for the sync: $(tail -5 "$SSH_DIR/log")"
compare "$P" "$S"

step "rounds of the seeded workload, each synced and compared"
for round in 1 2 3; do
	workload "$P" --seed $((SEED + round)) --ops 300
	expect_rc 0 ssync "$P" "$SSH_HOST:$S"
	compare "$P" "$S"
done
step "a rerun sends nothing"
expect_rc 0 ssync "$P" "$SSH_HOST:$S"
expect_nothing_sent
[[ $(summary_field "entries changed") == 0 ]] ||
	check_failed "a rerun changed entries"

step "quoting: a remote path with a space, a quote and a \$; a quoted word in --ssh"
cp "$SSH_DIR/ssh_config" "$SSH_DIR/ssh config"
Q="$T/odd dir/it's \$HOME"
mkdir "$T/odd dir"
expect_rc 0 gsync --ssh "ssh -F '$SSH_DIR/ssh config' -p $SSH_PORT" "$P" "$SSH_HOST:$Q"
compare "$P" "$Q"
[[ -z $(ls -A "$T/odd dir" | grep -vxF "it's \$HOME") ]] ||
	check_failed "other names made beside $Q: $(ls -A "$T/odd dir")"

step "a forced command serves its own directory"
F=$T/forced
ssh_newkey forced_key
ssh_authorize root "georep secondary $F" "$SSH_DIR/forced_key"
FORCED_CMD=$(ssh_client_cmd "$SSH_HOST" "$SSH_PORT" "$SSH_DIR/forced_key")
expect_rc 0 gsync --ssh "$FORCED_CMD" "$P" "$SSH_HOST:$F"
compare "$P" "$F"
# The same directory, written with a trailing slash: the same pair (as
# for a local secondary), nothing to send.
check_rc 0 gsync --ssh "$FORCED_CMD" "$P" "$SSH_HOST:$F/"
((RC != 0)) || expect_nothing_sent

step "... and refuses a primary that asks for another path: nothing written"
(cd "$F" && find . -printf '%p %y %m %s %T@\n' | sort) >"$T/forced.before"
expect_rc 77 gsync --ssh "$FORCED_CMD" "$P" "$SSH_HOST:$T/other"
expect_stderr "this account serves only $F \\(a forced command in its authorized_keys\\); the primary asked for $T/other: nothing was written"
expect_no_stderr "protocol error"
[[ ! -e $T/other ]] || check_failed "the refused sync made $T/other: $(ls -la "$T/other")"
(cd "$F" && find . -printf '%p %y %m %s %T@\n' | sort) >"$T/forced.after"
cmp -s "$T/forced.before" "$T/forced.after" ||
	check_failed "the refused sync changed $F: $(diff "$T/forced.before" "$T/forced.after" | head)"
compare "$P" "$F"

step "as a non-root account: its own files replicate exactly"
ssh_test_user
ssh_authorize "$SSH_USER"
UP=$T/u.p US=$T/u.s
mkdir "$UP" "$US"
chown "$SSH_UID:$SSH_GID" "$UP" "$US"
# The tree made by the account itself: no device node, no foreign owner,
# no trusted.* xattr (mktree makes those as root only).
setpriv --reuid="$SSH_UID" --regid="$SSH_GID" --clear-groups -- \
	/usr/bin/python3 "$TOOLS/mktree.py" "$UP" --seed "$SEED" --files 50 >&2 ||
	fail "mktree as $SSH_USER failed"
expect_rc 0 ssync "$UP" "$SSH_USER@$SSH_HOST:$US"
expect_no_stderr 'not replicated'
compare "$UP" "$US"
bad=$(find "$US" ! -user "$SSH_USER" | head -3)
[[ -z $bad ]] || check_failed "not owned by $SSH_USER on the secondary: $bad"

step "... another uid's file and a device node: exit 74, one warning each"
echo theirs >"$UP/theirs"
chown 1234:1234 "$UP/theirs"
mknod "$UP/null" c 1 3
touch -d 2010-01-01 "$UP"
expect_rc 74 ssync "$UP" "$SSH_USER@$SSH_HOST:$US"
expect_stderr '1 owner not replicated .*the first: theirs; --no-owners'
expect_stderr '1 device node not replicated .*the first: null; --no-devices'
cmp -s "$UP/theirs" "$US/theirs" || check_failed "theirs was not sent"
compare "$UP" "$US" --exclude theirs --exclude null
step "... --no-owners --no-devices: exit 0, and nothing sent again"
expect_rc 0 ssync --no-owners --no-devices "$UP" "$SSH_USER@$SSH_HOST:$US"
expect_no_stderr 'not replicated'
expect_rc 0 ssync --no-owners --no-devices "$UP" "$SSH_USER@$SSH_HOST:$US"
expect_nothing_sent
compare "$UP" "$US" --exclude theirs --exclude null

step "a closed port: ssh's own failure, exit 69"
closed=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
expect_rc 69 gsync --ssh "$(ssh_client_cmd "$SSH_HOST" "$closed")" "$P" "$SSH_HOST:$T/e.closed"
expect_stderr "connect to host $SSH_HOST port $closed: Connection refused"
expect_unreachable
[[ ! -e $T/e.closed ]] || check_failed "$T/e.closed was made"

step "a key the server does not accept: exit 69"
ssh_newkey stranger_key
expect_rc 69 gsync --ssh "$(ssh_client_cmd "$SSH_HOST" "$SSH_PORT" "$SSH_DIR/stranger_key")" \
	"$P" "$SSH_HOST:$T/e.key"
expect_stderr "Permission denied \\(publickey\\)"
expect_unreachable
[[ ! -e $T/e.key ]] || check_failed "$T/e.key was made"

step "a changed host key: exit 69"
ssh-keygen -q -t ed25519 -N '' -C other-host -f "$SSH_DIR/other_host_key"
: >"$SSH_DIR/known_hosts.changed"
ssh_known_host "$SSH_HOST" "$SSH_PORT" "$SSH_DIR/known_hosts.changed" "$SSH_DIR/other_host_key"
expect_rc 69 gsync --ssh "$(ssh_client_cmd "$SSH_HOST" "$SSH_PORT" "$SSH_DIR/user_key" \
	"$SSH_DIR/known_hosts.changed")" "$P" "$SSH_HOST:$T/e.hostkey"
expect_stderr "REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed"
expect_unreachable
[[ ! -e $T/e.hostkey ]] || check_failed "$T/e.hostkey was made"

step "a host without georep in the PATH: exit 69, 'no georep on'"
# An account whose PATH lacks georep: what the primary asked for, run in
# such a PATH.
ssh_newkey nogeorep_key
ssh_authorize root 'PATH=/usr/bin:/bin; eval $SSH_ORIGINAL_COMMAND' "$SSH_DIR/nogeorep_key"
expect_rc 69 gsync --ssh "$(ssh_client_cmd "$SSH_HOST" "$SSH_PORT" "$SSH_DIR/nogeorep_key")" \
	"$P" "$SSH_HOST:$T/e.nogeorep"
expect_stderr "georep: command not found"
expect_stderr "the secondary \\($SSH_HOST:$T/e.nogeorep\\) could not be started: no georep on $SSH_HOST, or not in its PATH \\(exit 127\\)"
expect_no_stderr "protocol error"
[[ ! -e $T/e.nogeorep ]] || check_failed "$T/e.nogeorep was made"

step "a primary that speaks a newer protocol: exit 76, both versions named"
# Between the primary and the real secondary, a filter that adds one to the
# version the HELLO carries (a primary newer than the secondary): the real
# secondary refuses it with its own message.  It writes the version the
# primary really sent to $SSH_DIR/hello.version.
cat >"$SSH_DIR/newer-primary.py" <<'EOF'
import os, shlex, struct, subprocess, sys
words = shlex.split(os.environ.pop("SSH_ORIGINAL_COMMAND"))
child = subprocess.Popen(words, stdin=subprocess.PIPE)
inp = sys.stdin.buffer
def read(n):
    b = inp.read(n)
    if len(b) != n:
        sys.exit("newer-primary: short read")
    return b
head = read(4)
body = bytearray(read(struct.unpack("<I", head)[0]))
if body[0] == 1:  # MSG_HELLO: u8 type, u32 id, u32 version, ...
    version = struct.unpack_from("<I", body, 5)[0]
    with open(os.path.join(os.path.dirname(sys.argv[0]), "hello.version"), "w") as f:
        f.write("%d\n" % version)
    struct.pack_into("<I", body, 5, version + 1)
child.stdin.write(head + body)
child.stdin.flush()
while True:
    b = inp.read1(65536)
    if not b:
        break
    child.stdin.write(b)
    child.stdin.flush()
child.stdin.close()
sys.exit(child.wait())
EOF
ssh_newkey newer_key
ssh_authorize root "$PY $SSH_DIR/newer-primary.py" "$SSH_DIR/newer_key"
expect_rc 76 gsync --ssh "$(ssh_client_cmd "$SSH_HOST" "$SSH_PORT" "$SSH_DIR/newer_key")" \
	"$P" "$SSH_HOST:$T/e.proto"
v=$(cat "$SSH_DIR/hello.version" 2>/dev/null || true)
[[ $v =~ ^[0-9]+$ ]] || fail "the filter saw no HELLO"
expect_stderr "protocol version $((v + 1)) is not supported by this secondary \\(it speaks $v\\)"
expect_no_stderr "protocol error"

step "a secondary bound to one primary refuses another; --force takes it over"
P2=$T/p2
mktree "$P2" --seed $((SEED + 100)) --files 30
expect_rc 65 ssync "$P2" "$SSH_HOST:$S"
expect_stderr "belongs to another primary"
compare "$P" "$S"
expect_rc 0 ssync --force "$P2" "$SSH_HOST:$S"
compare "$P2" "$S"

step "the link cut in the middle of a ${BIG_MB} MiB file"
B=$T/big.p BS=$T/big.s
mkdir "$B"
echo small >"$B/small"
head -c "${BIG_MB}M" /dev/urandom >"$B/big"
"$GEOREP" sync --home "$T/home" --no-fsync --ssh "$SSH_CMD" "$B" "$SSH_HOST:$BS" \
	>"$T/cut.out" 2>"$T/cut.err" &
syncpid=$!
deadline=$((SECONDS + 30))
until sshpid=$(pgrep -P "$syncpid" -x ssh); do
	((SECONDS < deadline)) || fail "no ssh under georep sync $syncpid within 30 s"
	sleep 0.01
done
# Part of the data on the secondary: at least 8 MiB of the file, not all.
wait_tmpfile "$BS" $((8 << 20)) "$syncpid"
kill -9 "$sshpid"
rc=0
wait "$syncpid" || rc=$?
sed 's/^/  err: /' "$T/cut.err" >&2
[[ $rc == 69 ]] || check_failed "the cut sync exited $rc, not 69"
grep -Eq "the secondary \\($SSH_HOST:$BS\\) (was killed by signal 9|could not be reached)" "$T/cut.err" ||
	check_failed "the cut sync does not say why it failed"
! grep -q "protocol error" "$T/cut.err" || check_failed "a protocol error on a cut link"
# The far end goes away by itself (its input closed), and leaves no
# partial file under a real name.
deadline=$((SECONDS + 30))
while [[ -n $(remote_secondaries "$BS") ]]; do
	((SECONDS < deadline)) || { check_failed "the secondary of $BS outlived its link by 30 s"; break; }
	sleep 0.02
done
if [[ -e $BS/big ]]; then
	cmp -s "$B/big" "$BS/big" || check_failed "a partial file under the name big on the secondary"
fi
leftovers=$(find "$BS" -name '.georep-tmp*' 2>/dev/null | head -3)
[[ -z $leftovers ]] || check_failed "temporary names left on the secondary: $leftovers"
step "... a rerun converges, and continues the file from what was there"
expect_rc 0 ssync -v "$B" "$SSH_HOST:$BS"
line=$(grep -E '^send big ' "$T/out") || fail "big was not sent: $(cat "$T/out")"
size=$(stat -c %s "$B/big")
if [[ $line =~ \(resumed:\ ([0-9]+)\ bytes\ for\ $size\) ]]; then
	((BASH_REMATCH[1] < size - (4 << 20))) ||
		check_failed "resuming big sent ${BASH_REMATCH[1]} bytes of $size"
else
	check_failed "big was not resumed from the bytes the cut left: $line"
fi
compare "$B" "$BS"
expect_rc 0 ssync "$B" "$SSH_HOST:$BS"
expect_nothing_sent

step "adopt over ssh: a copy made by cp -a, with differences"
# A tree of its own: cp -a cannot copy the workload's deepest chains.
A=$T/a AS=$T/adopted
mkdir -p "$A/x/y" "$A/z"
for i in $(seq 1 60); do
	head -c $((i * 997)) /dev/urandom >"$A/x/y/f$i"
	echo "small $i" >"$A/z/s$i"
done
ln -s x/y/f1 "$A/link"
cp -a "$A" "$AS"
echo longer >>"$AS/z/s7"
echo extra >"$AS/extra"
expect_rc 0 ssync --name adopt --adopt --json "$A" "$SSH_HOST:$AS"
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(($1))" "$T/out"; }
[[ $(json "d['files_sent'], d['adopted']['removed']") == "(1, 1)" ]] ||
	check_failed "adopting over ssh sent or removed other than one file each: $(cat "$T/out")"
compare "$A" "$AS"
step "... --checksum finds a change of the same size and mtime; only checksums cross"
python3 - "$AS/x/y/f9" <<'PYEOF'
import os, sys
p = sys.argv[1]
st = os.stat(p)
with open(p, 'r+b') as f:
    b = f.read(1)
    f.seek(0)
    f.write(bytes([b[0] ^ 0xff]))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
PYEOF
expect_rc 0 ssync --name adopt --checksum --json "$A" "$SSH_HOST:$AS"
total=$(du -sb "$A" | cut -f1)
[[ $(json "d['files_sent'], d['adopted']['checksummed_bytes'] > 0") == "(1, True)" ]] ||
	check_failed "--checksum over ssh: $(cat "$T/out")"
(($(json "d['wire_bytes']") < total / 10)) ||
	check_failed "--checksum wrote $(json "d['wire_bytes']") bytes for $total of content"
compare "$A" "$AS"
