#!/usr/bin/env bash
# verify_interval: a session verifies itself on a timer.
#   - off by default; set on a running session, it applies (config waits);
#   - the secondary edited behind georep's back -- a file's content with
#     its size and mtime kept, a file added, a mode changed -- is found by
#     the timed verify: status shows it (the count and the paths), the log
#     names each path, and the session repairs it by itself: the secondary
#     converges and a later verify finds nothing;
#   - what the session did not touch stays the same inode (only what
#     differed was sent again).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

export GEOREP_TEST_NO_FSYNC=1
P=$T/p S=$T/s
at_exit 'G stop s >/dev/null 2>&1 || true'
mktree "$P" --seed 49 --files 60
expect_rc 0 G create s "$P" "$S" --config change_detector=inotify \
    --config crawl_interval=1h
expect_rc 0 G config s verify_interval
expect_stdout "^off$"
expect_rc 0 G start s
checkpoint_and_compare
[[ $(field "d['verify']") == None ]] || fail "a verify with verify_interval off"

step "the secondary edited behind georep's back"
mapfile -t files < <(cd "$S" && find . -maxdepth 3 -path ./.georep -prune -o -type f -size +0 -printf '%P\n' | sort)
edited=${files[0]} chmodded=${files[1]} kept=${files[2]}
ino_kept=$(stat -c %i "$S/$kept")
cp -p "$S/$edited" "$T/ref"
printf 'X' | dd of="$S/$edited" bs=1 seek=0 conv=notrunc 2>/dev/null
cmp -s "$P/$edited" "$S/$edited" && printf 'Y' |
	dd of="$S/$edited" bs=1 seek=0 conv=notrunc 2>/dev/null
touch -r "$T/ref" "$S/$edited"
echo stray >"$S/added-behind"
chmod 0600 "$S/$chmodded"

step "verify_interval set on the running session: it finds and repairs them"
expect_rc 0 G config s verify_interval 1s
wait_for "d['verify'] is not None and d['verify']['differences'] >= 3" \
    "a timed verify that found the edits" 60
shown=$(field "'\n'.join(d['verify']['shown'])")
for p in "$edited: content differs" "added-behind: only on the secondary" \
    "$chmodded: mode"; do
	grep -qF "$p" <<<"$shown" || fail "status does not show '$p': $shown"
done
[[ $(field "d['verify']['repaired']") == True ]] ||
	fail "the differences were not handed to the session: $(st)"
grep -qF "verify: $edited: content differs" "$T/home/sessions/s/log" ||
	fail "the log does not name $edited"
expect_rc 0 G status --detail s
expect_stdout "^  verify: +[^ ]+: [0-9]+ differences"

wait_for "d['verify'] is not None and d['verify']['differences'] == 0" \
    "a later verify that finds nothing" 60
[[ ! -e $S/added-behind ]] || fail "the added file is still there"
cmp "$P/$edited" "$S/$edited" || fail "$edited not repaired"
[[ $(stat -c %a "$S/$chmodded") == $(stat -c %a "$P/$chmodded") ]] ||
	fail "the mode of $chmodded not repaired"
[[ $(stat -c %i "$S/$kept") == "$ino_kept" ]] ||
	fail "$kept, which did not differ, was sent again"
compare "$P" "$S"

step "off again"
expect_rc 0 G config s verify_interval off
expect_rc 0 G verify s
expect_rc 0 G stop s
