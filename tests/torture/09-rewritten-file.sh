#!/usr/bin/env bash
# Torture 9: files rewritten continuously, in place, while the session
# syncs them (short: 5 s; full: 60 s): each version of a file is written by
# one pwrite, every 4 KiB block starting with the version's number.  A
# reader on the secondary checks the files all along: under the real name,
# a file is only ever one version (never blocks of two).  A file that
# changed every time it was read is a failure in status while the writer
# runs; once the writer stops, the session converges (measured from the
# stop).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SECS=$(scale 5 60)
P=$T/p S=$T/s
mkdir -p "$P"
for n in 1 2 3; do head -c $((n << 20)) /dev/zero >"$P/rewritten-$n"; done
session_up inotify
"$PY" - "$P" "$SECS" >"$T/writer.log" 2>&1 <<'PYEOF' &
import os, struct, sys, time
d, secs = sys.argv[1], float(sys.argv[2])
fds = [os.open(os.path.join(d, "rewritten-%d" % n), os.O_WRONLY) for n in (1, 2, 3)]
end = time.monotonic() + secs
v = 0
while time.monotonic() < end:
    v += 1
    for n, fd in enumerate(fds, 1):
        block = struct.pack("<Q", v) + bytes([v % 251]) * 4088
        os.pwrite(fd, block * (256 * n), 0)
print("versions %d" % v)
PYEOF
writer=$!
at_exit "kill $writer 2>/dev/null || true"
"$PY" - "$S" "$writer" >"$T/reader.log" 2>&1 <<'PYEOF' &
import os, struct, sys
d, writer = sys.argv[1], int(sys.argv[2])
reads = mixes = 0
def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False
while alive(writer):
    for n in (1, 2, 3):
        try:
            with open(os.path.join(d, "rewritten-%d" % n), "rb") as f:
                b = f.read()
        except FileNotFoundError:
            continue
        reads += 1
        vs = {struct.unpack_from("<Q", b, o)[0] for o in range(0, len(b), 4096)}
        if len(vs) > 1:
            mixes += 1
            print("MIX rewritten-%d: versions %s" % (n, sorted(vs)[:6]))
print("reads %d mixes %d" % (reads, mixes))
PYEOF
reader=$!
wait "$writer" || fail "the writer failed: $(cat "$T/writer.log")"
t0=$(fault_time)
wait "$reader" || fail "the reader failed: $(cat "$T/reader.log")"
cat "$T/writer.log" "$T/reader.log" | tail -5 >&2
grep -q "^reads [1-9][0-9]* mixes 0$" "$T/reader.log" ||
	check_failed "the secondary held a mix of versions: $(grep -m3 MIX "$T/reader.log")"
fault_converged "$t0" 120
echo "  writer stopped: converged in ${CONVERGE[-1]} s" >&2
OPS=$(awk '/^versions/ { print $2 * 3 }' "$T/writer.log")
final_verify
result faults="3 files rewritten in place for $SECS s ($(awk '/^reads/ { print $2 " reads of the secondary, " $4 " mixed" }' "$T/reader.log"))"
