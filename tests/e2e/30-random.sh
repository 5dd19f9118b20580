#!/usr/bin/env bash
# Rounds of seeded random changes (tests/tools/workload.py), each followed by
# a sync and a full comparison.  SEED=N replays a run; ROUNDS and OPS change
# its size.
. "$(dirname "$0")/lib.sh"

seed=${SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
rounds=${ROUNDS:-5}
ops=${OPS:-2500}
echo "seed $seed (replay with SEED=$seed), $rounds rounds of $ops ops"

mktree P --seed "$seed" --files 600
step "initial sync"
expect_rc 0 gsync P S
compare --sparse P S

for ((r = 1; r <= rounds; r++)); do
	step "round $r"
	workload P --seed $((seed + r)) --ops "$ops"
	expect_rc 0 gsync P S
	compare --sparse P S
done

step "a last sync with nothing changed sends and changes nothing"
expect_rc 0 gsync P S
expect_nothing_sent
[[ $(summary_field "entries changed") == 0 ]] || check_failed "entries changed"
[[ $(summary_field "attributes set") == 0 ]] || check_failed "attributes set"
compare --sparse P S
