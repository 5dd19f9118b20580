#!/usr/bin/env bash
# Refusals and partial failures: a missing primary, pairs that overlap, a
# secondary bound to another primary, a non-empty secondary never synced,
# unreadable paths; and the options that change what is replicated:
# --dry-run, --exclude, --ignore-deletes; bad --compress and --bwlimit
# values.
. "$(dirname "$0")/lib.sh"

# A refusal is one clean message: the secondary process must not add a
# protocol error of its own.
no_protocol_noise() {
	grep -Eq 'protocol error' "$T/err" &&
		check_failed "a refusal also printed a protocol error"
	return 0
}

small_tree() {
	mkdir -p "$1/sub/deeper" "$1/empty"
	echo "one $1" >"$1/one"
	echo "two $1" >"$1/sub/two"
	head -c 100000 /dev/urandom >"$1/sub/deeper/three"
	ln -s one "$1/link"
}

# snapshot DIR COPY: a copy of DIR without its .georep, and of .georep alone.
snapshot() {
	rm -rf "$2" "$2.state"
	rsync -aHAX --modify-window=-1 --exclude=/.georep "$1/" "$2/"
	if [[ -d $1/.georep ]]; then
		rsync -aHAX --modify-window=-1 "$1/.georep/" "$2.state/"
	fi
}
unchanged_since() { # DIR COPY
	compare "$2" "$1"
	if [[ -d $2.state || -d $1/.georep ]]; then
		diff -r "$2.state" "$1/.georep" >&2 ||
			check_failed "$1/.georep changed"
	fi
}

step "a missing primary"
expect_rc 66 gsync "$T/no/such/primary" S0
expect_stderr "$T/no/such/primary"
expect_stderr 'No such file or directory'
[[ ! -e S0 ]] || check_failed "the secondary was made for a missing primary"

step "a primary that is a file"
echo file >afile
expect_rc 66 gsync afile S0
expect_stderr afile

small_tree P
step "the same directory twice"
expect_rc 64 gsync P P
expect_rc 64 gsync P "$T/P/"
ln -s P P.alias
expect_rc 64 gsync P P.alias
expect_stderr 'same directory'

step "a secondary inside the primary"
expect_rc 64 gsync P P/sub/S
expect_stderr 'inside'
[[ ! -e P/sub/S ]] || check_failed "P/sub/S was made"
expect_rc 64 gsync P P/sub
expect_rc 64 gsync P P.alias/sub/S
[[ ! -e P/.georep && ! -e P/sub/.georep ]] ||
	check_failed "a .georep was made inside the primary"

step "a primary inside the secondary"
mkdir -p Outer
small_tree Outer/P
expect_rc 64 gsync Outer/P Outer
expect_stderr 'inside'
expect_rc 64 gsync Outer/P .
[[ ! -e Outer/.georep ]] || check_failed "Outer was bound"

step "a bad option, a missing operand"
expect_rc 64 gsync --no-such-option P S0
expect_rc 64 gsync P
expect_rc 64 gsync P S0 extra

step "bad --compress and --bwlimit values: the value named, nothing made"
for v in 0x3 20 -1 fast 1.5 ''; do
	expect_rc 64 gsync --compress="$v" P S0
	expect_stderr "^georep sync: --compress '$v': expected a zstd level from 1 to 19"
done
for v in fast -1 1X 0.5 2000G 1e3 ''; do
	expect_rc 64 gsync --bwlimit "$v" P S0
	expect_stderr "^georep sync: --bwlimit '$v': expected 0 \(no limit\) or a rate"
done
expect_rc 64 gsync --bwlimit
[[ ! -e S0 ]] || check_failed "a refused option made S0"

step "a secondary bound to another primary"
small_tree P1
small_tree P2
echo only-in-p2 >P2/p2-only
expect_rc 0 gsync P1 S1
compare P1 S1
snapshot S1 S1.snap
expect_rc 65 gsync P2 S1
expect_stderr '--force'
no_protocol_noise
unchanged_since S1 S1.snap
step "... taken over with --force"
expect_rc 0 gsync --force P2 S1
compare P2 S1
expect_rc 0 gsync P2 S1
expect_nothing_sent
step "... and the first primary is now refused"
expect_rc 65 gsync P1 S1
compare P2 S1

step "a non-empty secondary that was never synced"
mkdir -p Seeded/dir
echo precious >Seeded/precious
echo other >Seeded/dir/other
touch -d 2001-01-01 Seeded/dir Seeded
snapshot Seeded Seeded.snap
expect_rc 65 gsync P Seeded
expect_stderr '--adopt'
expect_stderr 'Seeded'
no_protocol_noise
unchanged_since Seeded Seeded.snap
[[ ! -e Seeded/.georep ]] || check_failed "Seeded/.georep was made"

step "--dry-run changes nothing and says what it would change"
small_tree D
expect_rc 0 gsync D DS
echo new >D/new-file
rm D/one
mv D/sub/two D/sub/two-renamed
chmod 700 D/sub
echo more >>D/sub/deeper/three
snapshot DS DS.snap
expect_rc 0 gsync --dry-run D DS
expect_output 'new-file'
expect_output 'one'
expect_output 'two-renamed'
expect_output 'three'
unchanged_since DS DS.snap
expect_rc 0 gsync -n D DS
unchanged_since DS DS.snap
step "... and the next real sync still does all of it"
expect_rc 0 gsync D DS
compare D DS

step "--dry-run on a first sync makes nothing"
expect_rc 0 gsync --dry-run D DS.new
[[ ! -e DS.new ]] || check_failed "--dry-run made the secondary"

step "--exclude: excluded names are neither sent nor deleted"
mkdir -p E/sub/cache E/cache E/keep
echo keep >E/keep.txt
echo tmp >E/skip.tmp
echo tmp >E/sub/skip.tmp
echo c >E/cache/c
echo c >E/sub/cache/c
echo a >E/anchored
echo a >E/sub/anchored
echo f >E/keep/cache # a file named cache: 'cache/' matches directories only
ex=(--exclude '*.tmp' --exclude 'cache/' --exclude /anchored)
excmp=(--exclude skip.tmp --exclude sub/skip.tmp --exclude cache
	--exclude sub/cache --exclude anchored)
expect_rc 0 gsync "${ex[@]}" E ES
for p in skip.tmp sub/skip.tmp cache sub/cache anchored; do
	[[ ! -e ES/$p ]] || check_failed "excluded $p was sent"
done
for p in keep.txt sub/anchored keep/cache; do
	[[ -e ES/$p ]] || check_failed "$p was not sent"
done
compare E ES "${excmp[@]}"

step "... excluded names on the secondary stay, also when deleted on the primary"
echo mine >ES/local.tmp
mkdir ES/cache
echo mine >ES/cache/mine
echo mine >ES/anchored
rm E/skip.tmp E/keep.txt
echo new >E/new.txt
expect_rc 0 gsync "${ex[@]}" E ES
[[ $(cat ES/local.tmp) == mine && $(cat ES/cache/mine) == mine &&
	$(cat ES/anchored) == mine ]] || check_failed "an excluded name was touched"
[[ ! -e ES/keep.txt && -e ES/new.txt ]] || check_failed "keep.txt/new.txt"
excmp+=(--exclude local.tmp)
compare E ES "${excmp[@]}"

step "... an excluded directory renamed to a name that is not excluded is sent"
mv E/cache E/cache2
expect_rc 0 gsync "${ex[@]}" E ES
[[ -e ES/cache2/c ]] || check_failed "cache2 was not sent"
[[ $(cat ES/cache/mine) == mine ]] || check_failed "ES/cache was touched"
compare E ES "${excmp[@]}"

step "... a file renamed to an excluded name leaves the secondary"
mv E/new.txt E/new.tmp
expect_rc 0 gsync "${ex[@]}" E ES
excmp+=(--exclude new.tmp)
[[ ! -e ES/new.txt && ! -e ES/new.tmp ]] ||
	check_failed "new.txt should be gone and new.tmp not sent"
compare E ES "${excmp[@]}"

step "... a name excluded later is neither updated nor deleted"
echo two >E/sub/two.txt
expect_rc 0 gsync "${ex[@]}" E ES
echo changed >E/sub/two.txt
expect_rc 0 gsync "${ex[@]}" --exclude two.txt E ES
[[ $(cat ES/sub/two.txt) == two ]] || check_failed "an excluded name was updated"
rm E/sub/two.txt
expect_rc 0 gsync "${ex[@]}" --exclude two.txt E ES
[[ $(cat ES/sub/two.txt) == two ]] || check_failed "an excluded name was deleted"
expect_rc 64 gsync --exclude '' E ES

step "--ignore-deletes keeps what the primary deleted"
small_tree I
expect_rc 0 gsync I IS
rm I/one
rm -rf I/sub
echo new >I/new
expect_rc 0 gsync --ignore-deletes I IS
[[ -e IS/one && -e IS/sub/deeper/three && -e IS/new ]] ||
	check_failed "--ignore-deletes deleted, or did not add"
cmp I/new IS/new || check_failed "IS/new differs"
compare I IS --exclude one --exclude sub --no-root-attrs

if ((EUID != 0)); then
	echo "not root: the steps as nobody are left out" >&2
	exit 0
fi

step "unreadable paths (as nobody): reported, the rest synced, rc 74"
chmod 755 "$T"
mkdir -p U/ok/deep U/bad/locked/sub nobody-home
echo 1 >U/ok/f
echo 2 >U/ok/deep/g
echo secret >U/bad/secret
echo other >U/bad/other
echo inner >U/bad/locked/inner
echo deeper >U/bad/locked/sub/deeper
chown -R nobody:nogroup U nobody-home
chmod 000 U/bad/secret U/bad/locked
touch -d 2010-01-01 U/bad U/ok U
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}
nsync() { as_nobody "$GEOREP" sync --home "$T/nobody-home" --no-fsync "$@"; }
chmod 777 "$T" # nobody makes US here
expect_rc 74 nsync U US
chmod 755 "$T"
expect_stderr 'bad/secret'
expect_stderr 'bad/locked'
expect_stderr 'Permission denied'
compare U US --exclude bad
[[ -e US/bad/other ]] && cmp U/bad/other US/bad/other ||
	check_failed "bad/other was not synced"
if [[ -e US/bad/secret ]]; then
	check_failed "US/bad/secret exists though it could not be read"
fi
step "... readable again: the next sync completes"
chmod 644 U/bad/secret
chmod 755 U/bad/locked
touch -d 2010-01-01 U/bad
check_rc 0 nsync U US
compare U US

step "as nobody: a secondary that cannot be created (no permission): rc 73"
mkdir -p R/ro/sub
chown -R nobody:nogroup R
check_rc 73 nsync R "$T/RS"
expect_stderr 'RS'
expect_stderr 'Permission denied'

step "as nobody: a new file in a read-only (0555) directory"
mkdir RS
chown nobody:nogroup RS
echo f >R/ro/f
chown nobody:nogroup R/ro/f
chmod 555 R/ro/sub R/ro
check_rc 0 nsync R RS
compare R RS
chmod 755 R/ro
echo new >R/ro/new
chown nobody:nogroup R/ro/new
chmod 555 R/ro
check_rc 0 nsync R RS
compare R RS
