#!/usr/bin/env bash
# The georep sync command line: a wrong number of operands names what is
# missing or extra; `georep help CMD` is `georep CMD --help` for every
# command; -V is --version; a --home (or GEOREP_HOME) whose parent does not
# exist is refused, not made with its parents; counts of one are singular;
# a dry run lists exactly what the real sync then does -- nothing straight
# after a sync (files written just before it, "racy", included), and after
# changes the very lines the next `sync -v` prints.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mkdir P
echo one >P/one

step "operands: what is missing or extra is named"
expect_rc 64 "$GEOREP" sync
expect_stderr 'missing PRIMARY and SECONDARY'
expect_rc 64 gsync P
expect_stderr 'missing SECONDARY'
expect_rc 64 gsync P S extra
expect_stderr "unexpected argument 'extra'"
[[ ! -e S ]] || check_failed "a refused command line made the secondary"

step "georep help CMD is georep CMD --help, for every command"
for cmd in sync create config delete start stop pause resume checkpoint \
	status secondary; do
	expect_rc 0 "$GEOREP" "$cmd" --help
	cp "$T/out" "$T/help.want"
	expect_rc 0 "$GEOREP" help "$cmd"
	expect_stdout "^usage: georep $cmd"
	cmp -s "$T/out" "$T/help.want" ||
		check_failed "georep help $cmd is not georep $cmd --help"
done
expect_rc 0 "$GEOREP" help
expect_stdout '^usage: georep COMMAND'
expect_rc 64 "$GEOREP" help nosuch
expect_stderr "unknown command 'nosuch'"

step "-V is --version"
expect_rc 0 "$GEOREP" --version
version=$(cat "$T/out")
[[ $version == "georep "* ]] || check_failed "--version printed '$version'"
expect_rc 0 "$GEOREP" -V
[[ $(cat "$T/out") == "$version" ]] || check_failed "-V is not --version"

step "--home: only its last component is made"
expect_rc 73 "$GEOREP" sync --home "$T/typo/home" --no-fsync P S
expect_stderr "$T/typo/home"
expect_stderr "its parent $T/typo does not exist"
expect_rc 73 env GEOREP_HOME="$T/typo2/home" "$GEOREP" sync --no-fsync P S
expect_stderr "$T/typo2/home"
expect_rc 73 "$GEOREP" create s P S --home "$T/typo3/home"
expect_stderr "$T/typo3/home"
for d in typo typo2 typo3 S; do
	[[ ! -e $T/$d ]] || check_failed "$d was made for a refused --home"
done
expect_rc 73 "$GEOREP" sync --home "$T/P/one" --no-fsync P S
expect_stderr "$T/P/one"
expect_rc 0 "$GEOREP" sync --home "$T/home1" --no-fsync P S
[[ -d $T/home1/sync ]] || check_failed "--home home1 was not made"
expect_rc 0 "$GEOREP" create s P S2 --home "$T/home2"
[[ -d $T/home2/sessions/s ]] || check_failed "--home home2 was not made"

step "counts of one are singular"
mkdir Q
echo x >Q/f
expect_rc 0 gsync Q QS
expect_stderr '1 file and 0 directories seen; 1 file \(2B\) sent, 0 entries changed, 1 attribute set'
mkdir Q/d
expect_rc 0 gsync Q QS
expect_stderr '1 file and 1 directory seen; 0 files \(0B\) sent, 1 entry changed, 2 attributes set'
expect_no_stderr '(^|[^0-9.])1 (files|directories|entries|attributes)'

step "--dry-run straight after a sync lists nothing (racy files included)"
seed=${SEED:-$RANDOM}
echo "seed $seed"
mktree D --seed "$seed" --files 200
expect_rc 0 gsync D DS
# Written right before the sync: sent within the tick of their last
# change, so marked racy, and hashed again the next time they are looked
# at -- where they are found unchanged.
for i in 1 2 3; do echo "racy $i" >"D/racy$i"; done
echo "more" >>D/one-more
expect_rc 0 gsync D DS
expect_rc 0 gsync -n D DS
[[ ! -s $T/out ]] || check_failed "a dry run after a sync listed: $(cat "$T/out")"
expect_rc 0 gsync -v D DS
[[ ! -s $T/out ]] || check_failed "a sync after a sync did: $(cat "$T/out")"

dry_equals_real() {
	expect_rc 0 gsync -n D DS
	cp "$T/out" "$T/dry"
	expect_rc 0 gsync -v D DS
	cp "$T/out" "$T/real"
	diff "$T/dry" "$T/real" >&2 ||
		check_failed "the dry run did not list what the sync did"
	[[ -s $T/real ]] || check_failed "the sync after changes did nothing"
	compare D DS
	expect_rc 0 gsync -n D DS
	[[ ! -s $T/out ]] || check_failed "a dry run after a sync listed: $(cat "$T/out")"
}

step "--dry-run after changes lists what the next sync -v prints"
# A chmod to the same mode moves ctime only: the content is hashed, found
# the same, and only attributes go.
chmod 644 D/one-more
echo new >D/racy1
mkdir D/newdir
echo f >D/newdir/f
ln D/newdir/f D/newdir/f-link
mv D/racy2 D/newdir/moved
rm D/racy3
dry_equals_real

step "... and after a random workload"
workload D --seed $((seed + 1)) --ops 200
dry_equals_real

step "the totals on stderr, and --json on stdout"
mkdir -p J/sub
echo one >J/one
echo two >J/sub/two
expect_rc 0 gsync --json J JS
expect_stderr "on the secondary: 3 created, 0 changed, 0 deleted; .* written to it; [0-9.]+ s"
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(($1))" "$T/out"; }
[[ $(json "d['created'], d['changed'], d['deleted'], d['files_sent'], d['exit_status']") == "(3, 0, 0, 2, 0)" ]] ||
	check_failed "--json of a first copy: $(cat "$T/out")"
[[ $(json "d['content_bytes_sent'] == 8 and d['wire_bytes'] > 8 and d['failures'] == []") == True ]] ||
	check_failed "--json bytes: $(cat "$T/out")"
echo three >>J/one
chmod 600 J/sub/two
mv J/sub J/moved
rm J/moved/two
expect_rc 0 gsync --json J JS
# The write, the move, and the directories' times: changed.
[[ $(json "d['created'] == 0 and d['changed'] >= 2 and d['deleted'] == 1") == True ]] ||
	check_failed "--json after a write, a move, a delete: $(cat "$T/out")"
expect_rc 0 gsync --json --adopt J JS2
# Empty: filled, nothing to adopt.
[[ $(json "'adopted' not in d and d['created'] == 2") == True ]] ||
	check_failed "--json of an empty secondary with --adopt: $(cat "$T/out")"
mkdir JX && echo x >JX/x
expect_rc 65 gsync --json J JX
[[ $(json "d['exit_status']") == 65 ]] ||
	check_failed "--json of a refused sync: $(cat "$T/out")"
