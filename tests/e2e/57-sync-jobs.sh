#!/usr/bin/env bash
# sync_jobs: the secondary writes small files (up to 1 MiB, new copies
# linked in) with workers, replies still in order.
#   - --sync-jobs and the sync_jobs key refuse what is not 1..32, naming it;
#   - a first copy of every kind of object with 8 workers, a workload on
#     top, then a sync with one worker finds nothing to send; a first copy
#     with one worker (the path without workers) is as exact;
#   - a file among the workers' that cannot be linked in (a directory of
#     the secondary's own in the way, not empty, inside a read-only
#     directory): the failure names it, the other files arrive;
#   - a session with sync_jobs = 4 runs its secondary with 4 workers (its
#     threads), and converges; 1 runs it without.
# No timing is asserted.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

P=$T/p S=$T/s

step "bad values are refused"
for bad in 0 33 x 3x -1 ''; do
	run gsync --sync-jobs "$bad" "$P" "$S"
	[[ $RC -eq 64 ]] || fail "--sync-jobs '$bad': exit $RC, not 64"
	expect_stderr "--sync-jobs '$bad': expected a number of workers from 1 to 32"
done
[[ ! -e $S ]] || fail "a refused sync made the secondary"

step "a first copy with 8 workers, a workload, 8 again, then 1 finds nothing"
mktree "$P" --seed 57 --files 1500
expect_rc 0 gsync --sync-jobs 8 "$P" "$S"
compare "$P" "$S"
workload "$P" --seed 57 --ops 400
expect_rc 0 gsync --sync-jobs 8 "$P" "$S"
compare "$P" "$S"
expect_rc 0 gsync --sync-jobs 1 "$P" "$S"
expect_nothing_sent

step "a first copy with one worker"
expect_rc 0 gsync --sync-jobs 1 --name one "$P" "$T/s1"
compare "$P" "$T/s1"

step "a worker's file that cannot be linked in: named, the rest arrive"
mkdir -p "$P/blocked"
for i in $(seq 1 40); do echo "small $i" >"$P/blocked/f$i"; done
expect_rc 0 gsync --sync-jobs 4 "$P" "$S"
# On the secondary, f7 becomes a directory that is not empty, and its
# parent read-only: the rename over it is refused (unless root ignores
# the mode: then the directory is cleared, and the copy exact).
echo "changed" >"$P/blocked/f7"
touch -d '+1 min' "$P/blocked/f7"
for i in $(seq 1 40); do echo "changed $i" >"$P/blocked/g$i"; done
rm "$S/blocked/f7"
mkdir -p "$S/blocked/f7/inner"
echo x >"$S/blocked/f7/inner/x"
chattr +i "$S/blocked/f7/inner" 2>/dev/null || skip_immutable=1
run gsync --sync-jobs 4 "$P" "$S"
if [[ -z ${skip_immutable-} ]]; then
	chattr -i "$S/blocked/f7/inner"
	[[ $RC -eq 74 ]] || fail "a file that could not be written: exit $RC, not 74"
	expect_stderr "blocked/f7"
	for i in $(seq 1 40); do
		cmp -s "$P/blocked/g$i" "$S/blocked/g$i" ||
			fail "blocked/g$i did not arrive beside the failed f7"
	done
fi
expect_rc 0 gsync --sync-jobs 4 "$P" "$S"
compare "$P" "$S"

step "a session with sync_jobs = 4"
export GEOREP_TEST_NO_FSYNC=1
at_exit 'G stop s >/dev/null 2>&1 || true'
P2=$T/p2 S2=$T/s2
mktree "$P2" --seed 58 --files 300
expect_rc 64 G create s "$P2" "$S2" --config sync_jobs=0
expect_stderr "sync_jobs '0': expected a number of workers from 1 to 32"
expect_rc 0 G create s "$P2" "$S2" --config change_detector=inotify \
    --config sync_jobs=4
expect_rc 0 G config s sync_jobs
expect_stdout "^4$"
P=$P2 S=$S2
expect_rc 0 G start s
checkpoint_and_compare
sec=$(secondary_pid)
[[ -n $sec ]] || fail "no secondary process"
threads=$(ls "/proc/$sec/task" | wc -l)
[[ $threads -eq 5 ]] || fail "the secondary runs $threads threads, not 1 + 4 workers"
workload "$P" --seed 58 --ops 300
checkpoint_and_compare

step "sync_jobs = 1: no workers"
expect_rc 0 G stop s
expect_rc 0 G config s sync_jobs 1
expect_rc 0 G start s
checkpoint_and_compare
sec=$(secondary_pid)
threads=$(ls "/proc/$sec/task" | wc -l)
[[ $threads -eq 1 ]] || fail "the secondary runs $threads threads with sync_jobs = 1"
