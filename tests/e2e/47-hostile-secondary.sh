#!/usr/bin/env bash
# A hostile secondary: tests/frames/hostile_secondary.py MODE, run as the
# ssh command of a remote SECONDARY, answers the primary with what no
# secondary sends -- frames too long, too short or cut, of another type, to
# requests never made, HELLO replies of the wrong shape, errnos and
# messages out of range, inode numbers of 0, LISTDIR entries with names
# that are not names or out of order, junk, silence.  For each mode
# (hostile_secondary.py --list says what georep must answer):
#   - the exit status: 76 when the secondary broke the protocol, 69 when it
#     went away or went silent (README, "Exit status"), 73 for a refusal;
#   - stderr names what was wrong ("protocol error: ...");
#   - no crash: no signal, and under ASan (GEOREP_ASAN=1) no report;
#   - the primary is unchanged, and the pair's index claims nothing: a dry
#     run lists what it listed before any sync.
# Then a real sync with one of those indexes sends everything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hostile=$(cd "$(dirname "$0")/../frames" && pwd)/hostile_secondary.py

P=$T/p
mkdir -p "$P/d/e"
echo hello >"$P/f"
echo world >"$P/d/g"
ln -s f "$P/l"

# The primary as it is: names, types, modes, sizes, mtimes, targets, content.
snapshot() {
	(cd "$P" && find . -printf '%p %y %m %s %T@ %l\n' | sort &&
		find . -type f -exec md5sum {} + | sort)
}
snapshot >"$T/p.before"

step "what a dry run lists with an index that holds nothing"
expect_rc 0 gsync -n --name base "$P" fake:/x
cp "$T/out" "$T/dry.base"
[[ -s $T/dry.base ]] || fail "the dry run listed nothing"

"$PY" "$hostile" --list >"$T/modes"
while read -r mode status regex; do
	step "mode $mode"
	check_rc "$status" gsync --timeout 3 --name "h-$mode" \
		--ssh "'$PY' '$hostile' $mode" "$P" fake:/x
	grep -Eq -- "$regex" "$T/err" ||
		check_failed "$mode: stderr does not match /$regex/"
	if grep -Eq 'Sanitizer|runtime error:' "$T/err"; then
		check_failed "$mode: a sanitizer report"
	fi
	((RC < 128)) || check_failed "$mode: killed by signal $((RC - 128))"
	snapshot >"$T/p.after"
	cmp -s "$T/p.before" "$T/p.after" ||
		check_failed "$mode: the primary changed"
	run gsync -n --name "h-$mode" "$P" fake:/x
	cmp -s "$T/dry.base" "$T/out" ||
		check_failed "$mode: the index claims something was synced"
done <"$T/modes"
(($(wc -l <"$T/modes") >= 40)) || fail "too few modes: $(wc -l <"$T/modes")"

step "a real secondary after a hostile one, with the same index"
# h-list-slash went furthest: a HELLO, a turn answered ESTALE and committed,
# a reconcile refused.
expect_rc 0 gsync --name h-list-slash "$P" "$T/s"
[[ $(summary_field "files sent") == 2 ]] ||
	check_failed "not everything was sent: $(summary_field "files sent")"
compare "$P" "$T/s"
