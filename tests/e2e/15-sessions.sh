#!/usr/bin/env bash
# Sessions: create, config (show, get, set, validation, sync_jobs,
# compress and bwlimit, an old config file), delete; two sessions may share a primary but
# not write one secondary directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

G() { if [[ $1 == --help ]]; then "$GEOREP" --help; else "$GEOREP" "$1" --home "$T/home" "${@:2}"; fi; }
mkdir -p "$T/p" "$T/p2"

step "create, with settings"
expect_rc 0 G create s1 "$T/p" "$T/s" --config crawl_interval=5m \
    --config exclude='*.tmp' --config exclude=/cache/
expect_stdout "created session s1: $T/p -> $T/s"
expect_rc 0 G config s1
expect_stdout "^crawl_interval = 5m$"
expect_stdout "^one_file_system = false$"
expect_stdout "^exclude = \*\.tmp$"
expect_stdout "^exclude = /cache/$"
expect_stdout "^change_interval = 1s$"
expect_rc 0 G config s1 primary
expect_stdout "^$T/p$"

step "set and get"
expect_rc 0 G config s1 timeout 90s
expect_rc 0 G config s1 timeout
expect_stdout "^90s$"
expect_rc 0 G config s1 exclude '*.bak'
expect_rc 0 G config s1 exclude
expect_stdout '^\*\.bak$'
expect_rc 0 G config s1 ignore_deletes yes
expect_rc 0 G config s1 ignore_deletes
expect_stdout "^true$"
expect_rc 0 G config s1 one_file_system true
expect_rc 0 G config s1 one_file_system
expect_stdout "^true$"

step "bad input is refused, and nothing changes"
cp "$T/home/sessions/s1/config" "$T/config.before"
expect_rc 64 G config s1 timeout soon
expect_stderr "timeout 'soon': expected a duration"
expect_rc 64 G config s1 one_file_system maybe
expect_stderr "one_file_system 'maybe': expected true or false"
expect_rc 64 G config s1 nosuchkey 1
expect_stderr "unknown key 'nosuchkey'"
expect_rc 64 G config s1 change_detector magic
expect_stderr "expected fanotify, inotify, crawl or auto"
expect_rc 64 G config s1 secondary /elsewhere
expect_stderr "fixed when the session is created"
cmp -s "$T/config.before" "$T/home/sessions/s1/config" ||
	fail "a refused setting changed the config file"
expect_rc 64 G create s2 "$T/p" "$T/s2" --config timeout=never
expect_stderr "timeout 'never'"
[[ ! -e $T/home/sessions/s2 ]] || fail "a refused create left a session"
expect_rc 64 G create 'bad/name' "$T/p" "$T/s2"
expect_stderr "not a session name"
expect_rc 66 G create s2 "$T/missing" "$T/s2"
expect_stderr "primary $T/missing"
expect_rc 64 G create s2 "$T/p" "$T/p/inside"
expect_stderr "inside the primary"

step "sync_jobs: set, shown, checked"
expect_rc 0 G config s1 sync_jobs
expect_stdout "^3$"
expect_rc 0 G config s1 sync_jobs 5
expect_rc 0 G config s1 sync_jobs
expect_stdout "^5$"
for bad in 0 33 x ''; do
	expect_rc 64 G config s1 sync_jobs "$bad"
	expect_stderr "^georep: error: sync_jobs '$bad': expected a number of workers from 1 to 32$"
done
expect_rc 64 G create s2 "$T/p" "$T/s2" --config sync_jobs=40
expect_stderr "sync_jobs '40': expected"
[[ ! -e $T/home/sessions/s2 ]] || fail "a refused create left a session"
expect_rc 0 G config s1 sync_jobs 3
cmp -s "$T/config.before" "$T/home/sessions/s1/config" ||
	fail "sync_jobs set back did not give the same file"
expect_rc 0 G config s1
expect_no_stderr .
expect_stdout "^sync_jobs = 3$"

step "compress and bwlimit: set, shown, checked"
expect_stdout "^compress = auto$"
expect_stdout "^bwlimit = 0$"
expect_rc 0 G config s1 compress on
expect_rc 0 G config s1 compress
expect_stdout "^1$"
expect_rc 0 G config s1 compress 12
expect_rc 0 G config s1 bwlimit 1.5M
expect_rc 0 G config s1 bwlimit
expect_stdout "^1536K$"
expect_rc 64 G config s1 compress 20
expect_stderr "compress '20': expected auto, on, off or a zstd level from 1 to 19"
expect_rc 64 G config s1 bwlimit fast
expect_stderr "bwlimit 'fast': expected 0 \(no limit\) or a rate"
expect_rc 0 G config s1 compress auto
expect_rc 0 G config s1 bwlimit 0
cmp -s "$T/config.before" "$T/home/sessions/s1/config" ||
	fail "compress and bwlimit set back did not give the same file"

step "ssh_command: a whole command line, checked"
expect_rc 0 G config s1 ssh_command
expect_stdout "^ssh -oBatchMode=yes$"
expect_rc 0 G config s1 ssh_command "ssh -p 2222 -i '/a key'"
expect_rc 0 G config s1 ssh_command
expect_stdout "^ssh -p 2222 -i '/a key'$"
expect_rc 64 G config s1 ssh_command "ssh -i 'open"
expect_stderr "ssh_command 'ssh -i 'open': unbalanced quotes"
expect_rc 0 G config s1 ssh_command "ssh -oBatchMode=yes"
cp "$T/home/sessions/s1/config" "$T/config.before"

step "a config file edited by hand with a typo is an error, not a default"
sed -i 's/^timeout = .*/timeot = 4/' "$T/home/sessions/s1/config"
expect_rc 66 G config s1
expect_stderr "config: line [0-9]+: unknown key 'timeot'"
cp "$T/config.before" "$T/home/sessions/s1/config"

step "an old config file, without the newer keys, loads with their defaults"
cfg=$T/home/sessions/s1/config
sed -i '/^compress = /d; /^bwlimit = /d; /^delta_threshold = /d; /^sync_jobs = /d' "$cfg"
expect_rc 0 G config s1
expect_stdout "^timeout = 90s$"
expect_stdout "^compress = auto$"
expect_stdout "^sync_jobs = 3$"
expect_rc 0 G config s1 timeout 2m
grep -q "^timeout = 2m$" "$cfg" || fail "the setting was not saved"
grep -q "^sync_jobs = 3$" "$cfg" || fail "config_save did not write sync_jobs"
step "... and a bad value in the file is an error that names its line"
cp "$T/config.before" "$cfg"
sed -i 's/^sync_jobs = .*/sync_jobs = 99/' "$cfg"
expect_rc 66 G config s1
expect_stderr "config: line [0-9]+: sync_jobs '99': expected a number of workers"
cp "$T/config.before" "$cfg"

step "two sessions: one primary is fine, one secondary is not"
expect_rc 0 G create s2 "$T/p" "$T/s2"
expect_rc 73 G create s3 "$T/p2" "$T/s"
expect_stderr "session 's1' already writes $T/s"
expect_rc 73 G create s1 "$T/p2" "$T/s3"
expect_stderr "session 's1' exists already"

step "delete"
expect_rc 0 G delete s1
expect_rc 66 G config s1
expect_stderr "no session 's1'"
expect_rc 66 G delete s1
expect_rc 0 G create s3 "$T/p2" "$T/s"
expect_rc 0 G --help
