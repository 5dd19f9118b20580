#!/usr/bin/env bash
# Files that change or vanish while georep sends them: a vanished file is
# not an error; a changed one is sent again (or, if it keeps changing, by the
# next sync); nothing is lost once the primary is quiet.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

P=$T/p S=$T/s
mkdir -p "$P/grow" "$P/gone"
head -c $((64 << 20)) /dev/urandom >"$P/grow/big"
for i in $(seq 1 2000); do echo "$i" >"$P/gone/f$i"; done

step "a writer appends to a 64 MiB file while it is sent; files vanish"
( for i in $(seq 1 400); do
	head -c 65536 /dev/urandom >>"$P/grow/big"
  done ) &
writer=$!
( for i in $(seq 1 2000); do rm -f "$P/gone/f$i"; done ) &
remover=$!
at_exit "kill $writer $remover 2>/dev/null || true"
# Either the writer is done before the sync gives up on grow/big, or the
# file changed every time it was read: then it is the one path that failed
# (74), said so, and the next sync sends it.  A loaded machine slows the
# writer enough for the second.
run gsync "$P" "$S"
if ((RC == 74)); then
	expect_stderr "grow/big changed every time it was read: not sent"
	[[ $(grep -c "error" "$T/err") == 1 ]] ||
		check_failed "an error besides grow/big: $(cat "$T/err")"
else
	((RC == 0)) || fail "exit status $RC, expected 0 or 74"
	expect_no_stderr "error"
fi
wait "$writer" "$remover"

step "once the primary is quiet, the next sync converges"
expect_rc 0 gsync "$P" "$S"
compare "$P" "$S"
expect_rc 0 gsync "$P" "$S"
expect_nothing_sent
