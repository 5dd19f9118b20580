#!/usr/bin/env bash
# The manual pages, docs/man/georep.1 and docs/man/georep.conf.5, are clean
# and complete, checked against the binary itself:
#   - `mandoc -T lint -W warning` has nothing to say about either;
#   - every command `georep --help` names (and every one in the command
#     table of src/cli/main.c) has a subsection "georep CMD" in georep.1,
#     and every option `georep CMD --help` defines (in its usage lines and
#     its option list: --long and -s) appears in that subsection;
#   - every other --option a help text mentions, the options before any
#     command (-V, --version), and every long option of a getopt table in
#     src/cli/ (the ones --help leaves out too) appear in georep.1;
#   - every key `georep config --help` lists, and every key the key table
#     itself names (the message for an unknown key lists them), has an
#     entry of its own in georep.conf.5 (a list item tagged with the key).
# So a command, an option or a key added without documentation fails here.
# Skipped when mandoc is not installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/lib.sh"

command -v mandoc >/dev/null 2>&1 ||
	skip "mandoc is not installed (apt-get install mandoc): the manual pages are not checked"

man1=$root/docs/man/georep.1
man5=$root/docs/man/georep.conf.5
[[ -f $man1 ]] || fail "no $man1"
[[ -f $man5 ]] || fail "no $man5"

# A page as a terminal shows it, without the overstrikes of bold and
# underline.
render() { mandoc -T ascii "$1" | LC_ALL=C sed $'s/.\b//g'; }

# Text on stdin as one line: indentation dropped, lines joined with a
# blank, or with none after a word broken at its hyphen (mandoc breaks a
# line only at a blank or at a hyphen the word has).
flatten() {
	awk '{ sub(/^ +/, ""); sub(/ +$/, "")
		if (out ~ /[A-Za-z]-$/) out = out $0
		else out = out " " $0 }
		END { print out " " }'
}

# has TEXTFILE OPTION: OPTION appears as a whole word (not inside a longer
# option or a word) in TEXTFILE.
has() {
	grep -qE -- "(^|[^A-Za-z0-9-])$2([^A-Za-z0-9-]|\$)" "$1"
}

# The options an option-list line or a usage line defines: --long and -s
# (a short one stands alone: "-x," "-n" "[-f]" "(-V)").
longs() { grep -oE -- '--[a-z][a-z0-9-]*' || true; }
shorts() {
	grep -oE -- '(^|[][ ,(|])-[A-Za-z]($|[][ ,)|])' |
		grep -oE -- '-[A-Za-z]' || true
}

step "mandoc -T lint -W warning: no message"
for page in "$man1" "$man5"; do
	rc=0
	mandoc -T lint -W warning "$page" >"$T/lint" 2>&1 || rc=$?
	if [[ -s $T/lint ]] || ((rc != 0)); then
		sed 's/^/  lint: /' "$T/lint" >&2
		check_failed "mandoc -T lint -W warning ${page#"$root"/}: exit status $rc, $(wc -l <"$T/lint") message(s)"
	fi
done

render "$man1" >"$T/georep.1.txt"
render "$man5" >"$T/georep.conf.5.txt"
[[ -s $T/georep.1.txt && -s $T/georep.conf.5.txt ]] ||
	fail "mandoc rendered nothing"
flatten <"$T/georep.1.txt" >"$T/page1"

step "the commands: georep --help and the command table"
"$GEOREP" --help >"$T/help" 2>&1 || fail "georep --help failed"
# The commands block: "  CMD ARGS   what it does", continued by deeper
# indented lines; "stop NAME | pause NAME | resume NAME" names three.
cmds=$(awk '/^commands:/ { on = 1; next } on && /^$/ { exit }
	on && /^  [a-z]/ { sub(/^  /, ""); sub(/   .*/, ""); print }' "$T/help" |
	grep -oE '^[a-z][a-z-]*|\| [a-z][a-z-]*' | sed 's/^| //' || true)
[[ -n $cmds ]] || fail "no command found in the commands block of georep --help"
if [[ -f $root/src/cli/main.c ]]; then
	table=$(grep -oE '\{ *"[a-z][a-z-]*", *cmd_' "$root/src/cli/main.c" |
		grep -oE '"[a-z-]+"' | tr -d '"' || true)
	[[ -n $table ]] || check_failed "no command table found in src/cli/main.c"
	for c in $table; do
		grep -qx -- "$c" <<<"$cmds" ||
			echo "note: '$c' is in the command table but not in georep --help" >&2
	done
	cmds=$(printf '%s\n%s\n' "$cmds" "$table")
fi
cmds=$(sort -u <<<"$cmds" | grep -v '^$' || true)
echo "commands: $(tr '\n' ' ' <<<"$cmds")" >&2

# A command's subsection in georep.1: from its heading "georep CMD" (an
# .Ss, indented by 3) to the next heading.
section() {
	awk -v h="   georep $1" '$0 == h { on = 1; next }
		on && (/^[^ ]/ || /^ [^ ]/ || /^  [^ ]/ || /^   [^ ]/) { exit }
		on' "$T/georep.1.txt"
}

nopts=0
for cmd in $cmds; do
	step "georep $cmd: a subsection, and each option of georep $cmd --help in it"
	if ! "$GEOREP" "$cmd" --help >"$T/help.$cmd" 2>&1; then
		check_failed "georep $cmd --help failed: $(head -3 "$T/help.$cmd")"
		continue
	fi
	section "$cmd" | flatten >"$T/sec.$cmd"
	if [[ ! $(tr -d ' ' <"$T/sec.$cmd") ]]; then
		check_failed "georep.1 has no subsection 'georep $cmd' (.Ss georep $cmd)"
		continue
	fi
	# What the command defines: its usage lines (up to the first blank
	# line) and its option list (lines indented by at most 6 that start
	# with '-'; the option column ends at two blanks).
	{
		awk '/^$/ { exit } { print }' "$T/help.$cmd"
		grep -E '^ {1,6}-' "$T/help.$cmd" | sed -E 's/^ +//; s/  .*//' || true
	} >"$T/defined.$cmd"
	defined=$( (longs <"$T/defined.$cmd"; shorts <"$T/defined.$cmd") | sort -u)
	for opt in $defined; do
		nopts=$((nopts + 1))
		has "$T/sec.$cmd" "$opt" ||
			check_failed "georep $cmd $opt (georep $cmd --help) is not in the subsection 'georep $cmd' of georep.1"
	done
	# Any other option the text mentions: somewhere in the page.
	for opt in $(longs <"$T/help.$cmd" | sort -u); do
		has "$T/page1" "$opt" ||
			check_failed "$opt (mentioned by georep $cmd --help) is not in georep.1"
	done
done
((nopts > 0)) || fail "no option found in any georep CMD --help"

step "the options before any command, and every getopt table of src/cli"
for opt in $( (longs <"$T/help"; shorts <"$T/help") | sort -u); do
	has "$T/page1" "$opt" ||
		check_failed "$opt (georep --help) is not in georep.1"
done
"$GEOREP" -V >/dev/null 2>&1 || check_failed "georep -V failed"
has "$T/page1" -V || check_failed "-V (georep -V) is not in georep.1"
if compgen -G "$root/src/cli/*.c" >/dev/null; then
	for o in $(cat "$root"/src/cli/*.c |
		grep -oE '\{ *"[a-z][a-z0-9-]*", *(no|required|optional)_argument' |
		grep -oE '"[a-z0-9-]+"' | tr -d '"' | sort -u); do
		has "$T/page1" "--$o" ||
			check_failed "--$o (a getopt table in src/cli) is not in georep.1"
	done
fi

step "georep.conf.5: an entry for each config key"
"$GEOREP" config --help >"$T/help.config" 2>&1 || fail "georep config --help failed"
# The keys block: "keys (default):", then "  KEY  what it is (default)"
# with deeper indented continuation lines, up to a line not indented.
keys=$(awk '/^keys/ { on = 1; next } on && /^[^ ]/ { exit }
	on && /^  [a-z]/ { print $1 }' "$T/help.config" | sort -u)
[[ -n $keys ]] || fail "no key found in the keys block of georep config --help"
# The key table itself: the message for an unknown key lists every key.
mkdir -p "$T/P"
if "$GEOREP" create --home "$T/home" s "$T/P" "$T/S" >"$T/out" 2>&1; then
	rc=0
	"$GEOREP" config --home "$T/home" s no_such_key >"$T/out" 2>&1 || rc=$?
	((rc == 64)) ||
		check_failed "georep config NAME no_such_key: exit status $rc, expected 64"
	table=$(sed -nE 's/.*\(the keys: ([a-z0-9_, ]*)\).*/\1/p' "$T/out" | sed 's/, */\n/g' | grep -v '^$' || true)
	if [[ -z $table ]]; then
		check_failed "no list of keys in: $(cat "$T/out")"
	fi
	for k in $table; do
		grep -qx -- "$k" <<<"$keys" ||
			check_failed "config key $k (the key table) is not listed by georep config --help"
	done
	keys=$(printf '%s\n%s\n' "$keys" "$table" | sort -u | grep -v '^$' || true)
else
	check_failed "georep create failed, the key table is not read: $(cat "$T/out")"
fi
echo "keys: $(tr '\n' ' ' <<<"$keys")" >&2
for k in $keys; do
	# An entry: a list item whose tag is the key, alone on its line or
	# followed by the tag column's blanks (not "key = value" in an example).
	grep -qE "^ +$k( {2,}.*)?\$" "$T/georep.conf.5.txt" ||
		check_failed "config key $k has no entry of its own in georep.conf.5"
done
echo "$(wc -w <<<"$cmds") commands, $nopts command options, $(wc -w <<<"$keys") keys checked" >&2
