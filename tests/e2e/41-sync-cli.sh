#!/usr/bin/env bash
# The georep sync command line: a wrong number of operands names what is
# missing or extra; `georep help CMD` is `georep CMD --help` for every
# command; -V is --version; a --home (or GEOREP_HOME) whose parent does not
# exist is refused, not made with its parents; counts of one are singular.
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
