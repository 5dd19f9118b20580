#!/usr/bin/env bash
# One secondary writes into a directory at a time (.georep/lock).  A
# primary killed mid-turn leaves its secondary applying what is still in
# the pipe; a sync started right after must not walk the tree while that
# one still writes (CI once saw "remove dir: Directory not empty" that
# way).  The second one waits for the first, says so, and goes on; after
# the wait it gives up with an error that says why.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

P=$T/p S=$T/s
mktree "$P" --seed 3 --files 50
expect_rc 0 gsync "$P" "$S"
lock=$S/.georep/lock
[[ -f $lock ]] || fail "no lock file $lock"

# A holder of the lock that lets go when told (a line on a fifo).
hold_lock() {
	mkfifo "$T/go"
	flock -x "$lock" -c "read -r _ <'$T/go'" &
	holder=$!
	until_true "the lock taken" 10 bash -c "! flock -n -x '$lock' true"
}

step "a sync waits for the writer before it, then goes on"
hold_lock
echo changed >"$P/new-file"
"$GEOREP" sync --home "$T/home" --no-fsync "$P" "$S" 2>"$T/err" &
syncer=$!
until_true "the sync saying it waits" 20 grep -q "waiting for another georep writing into" "$T/err"
kill -0 "$syncer" || fail "the sync did not wait"
echo go >"$T/go"
wait "$holder"
RC=0; wait "$syncer" || RC=$?
[[ $RC -eq 0 ]] || { cat "$T/err" >&2; fail "the sync after the wait: exit $RC"; }
compare "$P" "$S"
rm "$T/go"

step "after the wait it gives up, with the reason"
hold_lock
run env GEOREP_TEST_LOCK_WAIT_MS=300 "$GEOREP" sync --home "$T/home" \
    --no-fsync "$P" "$S"
[[ $RC -ne 0 ]] || fail "a sync went on beside another writer"
expect_stderr "another georep is writing into .*$S"
echo go >"$T/go"
wait "$holder"
expect_rc 0 gsync "$P" "$S"
compare "$P" "$S"
