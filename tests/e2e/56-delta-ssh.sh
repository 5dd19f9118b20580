#!/usr/bin/env bash
# rsync-style deltas over ssh (an sshd of the scenario's own, lib_ssh.sh):
# a large file changed in a few places goes as a small delta to a remote
# secondary, and the trees are identical; a copy replaced on the remote
# side behind georep's back still ends as the primary's content.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_ssh.sh"
ssh_setup

P=$T/p S=$T/s
mkdir -p "$P"
ssync() { gsync --ssh "$SSH_CMD" "$@"; }
rewrite() {
	python3 - "$@" <<'PYEOF'
import os, random, sys
path, count, length, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = random.Random(seed)
size = os.path.getsize(path)
with open(path, 'r+b') as f:
    for _ in range(count):
        f.seek(r.randrange(0, size - length))
        f.write(r.randbytes(length))
PYEOF
}
# The bytes of the delta -v reported for FILE, or fail.
delta_bytes() {
	sed -nE "s/^send $1 \(delta: ([0-9]+) bytes for [0-9]+\)$/\1/p" "$T/out" |
		grep . || fail "$1 did not go as a delta: $(cat "$T/out")"
}

step "a first sync over ssh"
head -c $((16 << 20)) /dev/urandom >"$P/img"
expect_rc 0 ssync "$P" "$SSH_HOST:$S"
compare "$P" "$S"

step "20 places changed: a delta"
rewrite "$P/img" 20 1000 1
expect_rc 0 ssync -v "$P" "$SSH_HOST:$S"
n=$(delta_bytes img)
echo "  delta of $n bytes for $((16 << 20))" >&2
((n < (16 << 20) / 50)) || check_failed "a delta of $n bytes for 16 MiB"
compare "$P" "$S"

step "the remote copy replaced behind georep's back"
head -c $((8 << 20)) /dev/urandom >"$S/img"
rewrite "$P/img" 2 10 2
expect_rc 0 ssync -v "$P" "$SSH_HOST:$S"
delta_bytes img >/dev/null
compare "$P" "$S"
