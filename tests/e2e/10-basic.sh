#!/usr/bin/env bash
# A first sync makes an exact replica of a tree holding every kind of object;
# a second one with nothing changed sends and changes nothing.
. "$(dirname "$0")/lib.sh"

seed=${SEED:-$RANDOM}
echo "seed $seed"
mktree P --seed "$seed" --files 300

step "first sync into a secondary that does not exist yet"
expect_rc 0 gsync P S
[[ -d S/.georep ]] || fail "S/.georep was not made"
(($(summary_field "files sent") > 300)) || fail "too few files sent"
compare --sparse P S

step "second sync, nothing changed: nothing sent, nothing changed"
expect_rc 0 gsync P S
expect_nothing_sent
[[ $(summary_field "entries changed") == 0 ]] || fail "entries changed"
[[ $(summary_field "attributes set") == 0 ]] || fail "attributes set"
compare --sparse P S

step "the same pair named by other paths is the same pair"
mkdir -p elsewhere
ln -s "$T" elsewhere/alias
expect_rc 0 bash -c 'cd elsewhere && "$GEOREP" sync --home "$T/home" --no-fsync alias/P ../S'
expect_nothing_sent

step "-q prints nothing when all is well"
expect_rc 0 gsync -q P S
[[ ! -s $T/err && ! -s $T/out ]] || fail "-q printed something"

step "an existing empty directory is a fine secondary (and --progress)"
mkdir S2
expect_rc 0 gsync --progress P S2
# The last progress update (after the last carriage return) says 100%: all
# is sent, sparse holes included.
last=$(grep -v '^georep: ' "$T/err" | tr '\r' '\n' | grep -v '^ *$' | tail -1)
echo "last progress update: $last" >&2
[[ $last == *" 100%"* ]] || check_failed "the last progress update is not 100%: $last"
compare --sparse P S2
expect_rc 0 gsync P S2
expect_nothing_sent

step "a secondary with a missing parent cannot be created"
expect_rc 73 gsync P no/such/parent/S
expect_stderr 'no/such/parent'

step "the primary is unchanged by all this (and holds no .georep)"
mktree P.again --seed "$seed" --files 300
compare P P.again
