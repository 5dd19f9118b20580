#!/usr/bin/env bash
# A full crawl hands what it found over every so many objects (crawl.h,
# crawl_opts.flush): a first copy streams, in memory that does not grow
# with the tree.  Here the threshold is tiny (GEOREP_TEST_FLUSH_OBJS=7), so
# that a small tree crosses it a hundred times:
#   - a first sync of every kind of object -- hard links met in different
#     models, a deep chain, symlinks, fifos, xattrs -- is exact;
#   - a second one with nothing changed sends nothing;
#   - moves and deletes (the model then holds half of a move: it stops
#     handing over), then a sync: exact;
#   - a first sync killed after some models were committed resumes: the
#     next one walks the secondary and sends the rest;
#   - a session's first crawl streams too (its debug log says so), and
#     live changes follow.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

export GEOREP_TEST_FLUSH_OBJS=7
seed=${SEED:-$RANDOM}
echo "seed $seed" >&2
mktree P --seed "$seed" --files 300
d=P/chain
for i in $(seq 1 30); do d=$d/c$i; done
mkdir -p "$d"
echo deep >"$d/leaf"
# One file with names in 22 directories, walked in different models.
mkdir -p P/hl/a P/hl/z
echo linked >P/hl/a/orig
for i in $(seq 1 20); do
	mkdir -p "P/hl/m$i"
	ln P/hl/a/orig "P/hl/m$i/link"
done
ln P/hl/a/orig P/hl/z/last

step "a first sync, streamed"
expect_rc 0 gsync P S
compare --sparse P S
[[ $(stat -c %h S/hl/a/orig) == 22 ]] ||
	check_failed "S/hl/a/orig has $(stat -c %h S/hl/a/orig) links, not 22"

step "nothing changed: nothing sent, nothing changed"
expect_rc 0 gsync P S
expect_nothing_sent
[[ $(summary_field "entries changed") == 0 ]] || fail "entries changed"

step "moves, deletes and the rest, then a sync"
mv P/hl/m3 P/chain/c1/m3-moved
rm P/hl/m7/link
workload P --seed "$seed" --ops 300
expect_rc 0 gsync P S
compare --sparse P S
expect_rc 0 gsync P S
expect_nothing_sent

step "a first sync killed after some models were committed resumes"
# A tree of its own: the workload above may have left little of P.
mktree Q --seed "$seed" --files 300
run env GEOREP_TEST_CRASH=reply:600 "$GEOREP" sync --home "$T/home" \
	--no-fsync Q S2
((RC == 137)) || fail "exit status $RC, expected 137 (killed at reply 600)"
n=$(find S2 -path S2/.georep -prune -o -type f -print | wc -l)
((n > 0)) || fail "nothing on the secondary before the kill"
echo "  $n files on the secondary at the kill" >&2
expect_rc 0 gsync Q S2
expect_stderr "the (last sync did not finish: walking|first sync into .* did not finish: resuming)"
compare --sparse Q S2
expect_rc 0 gsync Q S2
expect_nothing_sent

step "a session's first crawl streams; live changes follow"
at_exit 'G stop s >/dev/null 2>&1 || true'
P=$T/P S=$T/S3
expect_rc 0 G create s "$P" "$S" --config change_detector=inotify \
	--config crawl_interval=1h --config log_level=debug
expect_rc 0 G start s
checkpoint_and_compare
grep -q "the crawl handed over [0-9]* models" "$T/home/sessions/s/log" ||
	check_failed "no model handed over in the session's log"
mkdir -p "$P/new/dir"
echo live >"$P/new/dir/f"
mv "$P/new" "$P/new-renamed"
checkpoint_and_compare
expect_rc 0 G stop s
