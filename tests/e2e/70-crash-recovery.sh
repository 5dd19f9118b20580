#!/usr/bin/env bash
# georep sync killed with SIGKILL after the secondary applied part of a turn
# and before the index committed it (GEOREP_TEST_CRASH: after the entry
# operations, after the data, right before the final index commit).  The
# next sync reconciles the index with the secondary and converges, even
# for renames that swap names (the case a naive replay gets wrong).  Also
# killed at a random reply to any operation of a turn (reply:N), and in the
# first sync (which is then resumed).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

P=$T/p S=$T/s
python3 "$TOOLS/mktree.py" "$P" --seed 7 --files 300 >/dev/null
# The first sync itself killed: the index has no object yet, and the
# secondary is bound to this primary.  That is an interrupted first sync,
# not a lost index: the next one resumes it, adopting what is there (no
# --force needed); killed again, after that adoption, it is a turn that
# did not finish.
for point in entry data; do
	step "the first sync killed at '$point'"
	run env GEOREP_TEST_CRASH=$point "$GEOREP" sync --home "$T/home" \
	    --no-fsync "$P" "$S"
	[[ $RC -eq 137 ]] || fail "crash point '$point' not reached (exit $RC)"
	[[ -n $(ls -A "$S" | grep -vx .georep) ]] ||
	    fail "the killed first sync left nothing"
done
expect_rc 0 gsync "$P" "$S"
expect_stderr "the (first|last) sync (into .* )?did not finish"
compare "$P" "$S"

SEED=${SEED:-$RANDOM}; echo "seed $SEED" >&2
round=0
for point in entry data commit entry data commit; do
	round=$((round + 1))
	step "round $round: crash at '$point'"
	# A turn with every kind of entry op: a swap, a directory moved, a
	# move into a new directory, a rewrite, a delete, a new file, a
	# random workload on top.
	mkdir -p "$P/r$round/new"
	echo "one $round" >"$P/r$round/a"
	echo "two $round" >"$P/r$round/b"
	expect_rc 0 gsync "$P" "$S"
	mv "$P/r$round/a" "$P/r$round/tmp"
	mv "$P/r$round/b" "$P/r$round/a"
	mv "$P/r$round/tmp" "$P/r$round/b"
	mv "$P/r$round/new" "$P/r$round/moved"
	echo "rewritten $round" >"$P/r$round/a"
	python3 "$TOOLS/workload.py" "$P" --seed $((${SEED:-$RANDOM} + round)) --ops 150 >/dev/null
	run env GEOREP_TEST_CRASH=$point "$GEOREP" sync --home "$T/home" \
	    --no-fsync "$P" "$S"
	[[ $RC -eq 137 ]] || fail "crash point '$point' not reached (exit $RC)"
	expect_rc 0 gsync "$P" "$S"
	expect_stderr "the last sync did not finish"
	compare "$P" "$S"
	# And a clean sync after it changes nothing.
	expect_rc 0 gsync "$P" "$S"
	expect_nothing_sent
done

# Killed anywhere in a turn: at a random reply to one of its operations
# (the secondary may have applied a few more, still in the pipe).
RANDOM=$SEED
for round in 1 2 3 4 5 6 7 8; do
	n=$((RANDOM % 300 + 1))
	step "crash at reply $n"
	python3 "$TOOLS/workload.py" "$P" --seed $((SEED + 100 + round)) \
	    --ops 200 >/dev/null
	run env GEOREP_TEST_CRASH=reply:$n "$GEOREP" sync --home "$T/home" \
	    --no-fsync "$P" "$S"
	[[ $RC -eq 137 || $RC -eq 0 ]] || fail "exit $RC at reply $n"
	expect_rc 0 gsync "$P" "$S"
	compare "$P" "$S"
	expect_rc 0 gsync "$P" "$S"
	expect_nothing_sent
done
