#!/usr/bin/env bash
# The georep sync command line: a wrong number of operands names what is
# missing or extra; `georep help CMD` is `georep CMD --help` for every
# command; -V is --version.
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
