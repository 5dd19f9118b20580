#!/usr/bin/env bash
# fsstress-selftest.sh: does tests/tools/fsstress.c do what the torture
# tests rely on?
#
#   FSSTRESS=/abs/build/tests/fsstress tests/tools/fsstress-selftest.sh [-k]
#
# Reproducible: for a few seeds and mixes, two scratch trees get the same two
# runs (one building a tree from nothing, one changing it), and must then be
# equal: contents (diff -r), a listing of kinds, modes, owners, sizes, link
# counts and symlink targets, the hard-link groups, the xattrs (getfattr,
# when installed), and the counts both runs printed.  Two different seeds
# must give different trees (else the check proves nothing).  Also: .georep
# at the top is left alone, bad arguments exit 2, SIGTERM stops a run with
# exit 0 and the counts.
#
# FSSTRESS defaults to build/tests/fsstress (make build/tests/fsstress).
# Works in a scratch directory under ${TMPDIR:-/tmp}: removed when all
# passes, kept and named when something fails (or with -k).  Exit status 0
# when all holds, 1 otherwise.

set -u
cd "$(dirname "$0")/../.." || exit 1
FSSTRESS=${FSSTRESS:-$PWD/build/tests/fsstress}
keep=0
[[ ${1:-} == -k ]] && keep=1
if [[ ! -x $FSSTRESS ]]; then
	echo "fsstress-selftest: $FSSTRESS is not built (make build/tests/fsstress)" >&2
	exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/fsstress-selftest.XXXXXX") || exit 1
failures=0

fail() {
	echo "FAIL $*" >&2
	failures=$((failures + 1))
}

# Everything about tree $1 that the same operations must reproduce (inode
# numbers and times excepted), one line per fact.
describe() {
	(
		cd "$1" || exit 1
		find . -printf '%y %m %U %G %s %n %p -> %l\n' | LC_ALL=C sort
		# Hard-link groups: each name with the first name of its inode.
		find . -type f -links +1 -printf '%i\t%p\n' | LC_ALL=C sort -t "$(printf '\t')" -k2 |
			awk -F '\t' '{ if (!($1 in first)) first[$1] = $2; print "link", $2, "=", first[$1] }'
		if command -v getfattr >/dev/null; then
			find . -print0 | LC_ALL=C sort -z |
				xargs -0 getfattr -h -d -m - -- 2>/dev/null
		fi
	)
}

# A run whose stderr is kept in $2 with the timing left out.
run() {
	local err=$1
	shift
	"$FSSTRESS" "$@" 2>"$err.raw"
	local rc=$?
	grep -v ' ops in ' "$err.raw" >"$err"
	return $rc
}

# same_runs NAME ARGS...: two trees, the same two runs, the same result.
same_runs() {
	local name=$1 t
	shift
	for t in a b; do
		mkdir -p "$T/$name/$t/.georep"
		echo state >"$T/$name/$t/.georep/keep"
		run "$T/$name/$t.build" "$T/$name/$t" --seed 7 --ops 400 --quiet ||
			fail "$name: the building run on $t exited $?"
		run "$T/$name/$t.err" "$T/$name/$t" "$@" ||
			fail "$name: fsstress $* on $t exited $?"
		describe "$T/$name/$t" >"$T/$name/$t.desc"
	done
	diff -r --no-dereference "$T/$name/a" "$T/$name/b" >"$T/$name/diff" 2>&1 ||
		fail "$name: the trees differ (diff -r): $T/$name/diff"
	diff "$T/$name/a.desc" "$T/$name/b.desc" >"$T/$name/desc.diff" ||
		fail "$name: the listings differ: $T/$name/desc.diff"
	diff "$T/$name/a.err" "$T/$name/b.err" >"$T/$name/err.diff" ||
		fail "$name: the counts differ: $T/$name/err.diff"
	[[ $(cat "$T/$name/a/.georep/keep") == state ]] ||
		fail "$name: .georep was touched"
	[[ $(wc -l <"$T/$name/a.desc") -gt 20 ]] ||
		fail "$name: hardly a tree: $T/$name/a.desc"
}

same_runs default --seed 1 --ops 1500
same_runs all-equal --seed 2 --ops 1500 --mix all=1
same_runs small --seed 3 --ops 1500 --max-files 100 --max-size 64K
same_runs moves --seed 4 --ops 1500 --mix all=0,rename=4,rename_dir=4,rename_newdir=2,exchange=4,mkdir=3,create=3,link=2,symlink=2,rmtree=1,chmod=1,setxattr=1

# Another seed, another tree.
mkdir -p "$T/other"
run "$T/other.build" "$T/other" --seed 7 --ops 400 --quiet
run "$T/other.err" "$T/other" --seed 5 --ops 1500
describe "$T/other" >"$T/other.desc"
cmp -s "$T/other.desc" "$T/default/a.desc" &&
	fail "seeds 1 and 5 made the same tree"

# Bad arguments exit 2 and name the argument.
mkdir -p "$T/args"
while IFS='|' read -r args want; do
	# shellcheck disable=SC2086
	"$FSSTRESS" "$T/args" $args >/dev/null 2>"$T/args.err"
	rc=$?
	((rc == 2)) || fail "fsstress DIR $args exited $rc, not 2"
	grep -q -e "$want" "$T/args.err" ||
		fail "fsstress DIR $args: no '$want' in: $(cat "$T/args.err")"
done <<'EOF'
--ops x|--ops
--ops 5 --seconds 1|--seconds
--mix bogus=1|unknown operation 'bogus'
--mix create=x|--mix create
--mix all=0|weight 0
--max-size 0|--max-size
--rate -1|--rate
--no-such-option|--no-such-option
EOF

# SIGTERM: stops after the current operation, prints the counts, exits 0.
mkdir -p "$T/term"
"$FSSTRESS" "$T/term" --seconds 60 --rate 200 2>"$T/term.err" &
pid=$!
sleep 1
kill -TERM "$pid"
wait "$pid"
rc=$?
((rc == 0)) || fail "SIGTERM: exit $rc, not 0"
grep -q '^seed [0-9][0-9]*$' "$T/term.err" || fail "SIGTERM: no seed line"
grep -q 'stopped by signal' "$T/term.err" || fail "SIGTERM: no counts"

if ((failures)); then
	echo "fsstress-selftest: $failures check(s) failed; kept $T" >&2
	exit 1
fi
if ((keep)); then
	echo "fsstress-selftest: all passed; kept $T"
else
	rm -rf "$T"
	echo "fsstress-selftest: all passed"
fi
exit 0
