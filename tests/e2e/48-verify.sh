#!/usr/bin/env bash
# georep verify: two trees compared object by object.
#   - the command line: no operands, three, an unknown option, --timeout 0,
#     --exclude with a session name, an unknown session (64, a message); a
#     missing PRIMARY or SECONDARY, a SECONDARY that is a file (66); --help
#     and `georep help verify`; a session that never synced (75);
#   - a generated tree after `georep sync`: exit 0, nothing on stdout;
#     --json: the summary line only, identical, 0 differences;
#   - the secondary edited behind georep's back (content changed with its
#     size and mtime kept, a file added, one removed, a mode, an owner (as
#     root), an xattr, an ACL (with setfacl), a symlink's target of the same
#     length and of another, a hard link broken, a directory removed, a file
#     replaced by a directory, a directory's mtime): one line per path
#     saying what differs, exit 1; --json lists exactly those paths with
#     the right names for what differs;
#     --no-owners, --no-xattrs, --no-acls leave theirs out;
#   - --repair on a pair georep sync made (same --home): the sync it runs
#     sends the files that differ or are missing and nothing else (every
#     other object on the secondary keeps its inode and ctime); verify is
#     then clean; on a pair georep sync never made: refused (64);
#   - the roots are objects too: their mode and xattrs are compared, and
#     repaired;
#   - --repair after a directory was moved on the secondary to where the
#     primary has a file, and changed there: the repair leaves none of its
#     attributes behind;
#   - a session (change_detector inotify, then crawl): verify NAME names
#     what was edited on the secondary (not what the session excludes);
#     verify --repair NAME has the running session fix it (the next
#     checkpoint, then verify is clean, and nothing else was rewritten); an
#     object changed on the primary since the sync point (the session
#     paused) is not judged: counted as changing; --repair NAME of a
#     stopped session is done at its next start;
#   - content by digest, whatever the layout: a sparse file and the same
#     bytes written in full, a hole and zeros, are identical; a byte changed
#     in the last partial block is not;
#   - a session with ignore_deletes: the names it keeps on the secondary
#     (a file, a hard link's second name) are no difference, and --repair
#     leaves them;
#   - --exclude: names excluded that differ are not reported, and --repair
#     leaves them alone (with more than 60 of them too);
#   - a directory of more than a page of entries (about 1 MiB): compared
#     once, in order, with a difference on its second page found;
#   - names and symlink targets that are not UTF-8 or hold a newline: one
#     line each, quoted as everywhere else; --json keeps every field (a
#     path that is not UTF-8 quoted so, and path_escaped);
#   - over ssh (lib_ssh.sh, an sshd of the scenario's own, as root):
#     identical, then one difference; a remote SECONDARY that does not
#     exist: 66, and it is not made; one that is a file: 66.
# Every wait is a condition with a deadline.
#
# SEED=N replays a run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

export GEOREP_TEST_NO_FSYNC=1
SEED=${SEED:-$RANDOM}; echo "seed $SEED" >&2
have_acl=0
command -v setfacl >/dev/null && have_acl=1
at_exit 'for s in si sc sk never; do G stop "$s" >/dev/null 2>&1 || true; done'

V() { "$GEOREP" verify --home "$T/home" "$@"; }

# A checkpoint 100 ms ahead: the sync point it waits for is past the margin
# verify NAME leaves before it (50 ms: a ctime runs a clock tick behind), so
# whatever changed before this call is judged, however fast the turn was.
set_checkpoint_judged() { set_checkpoint "$(time_ahead 100)"; }

# The last command's stdout, lines sorted, is exactly stdin's lines sorted
# (verify prints files whose content it compares after the rest of their
# directory).
expect_lines() {
	sort "$T/out" >"$T/got.sorted"
	sort >"$T/want.sorted"
	diff "$T/want.sorted" "$T/got.sorted" >"$T/lines.diff" ||
		check_failed "verify's lines (< wanted, > got): $(cat "$T/lines.diff")"
}
expect_no_stdout() {
	[[ ! -s $T/out ]] || check_failed "stdout is not empty: $(head -5 "$T/out")"
}

# The last command's --json output: one object per difference, then the
# summary, last and once.  WANT is a python dict {path: [what...]}: the
# differences must be exactly those (with "directory" true for the paths
# in DIRS, a python list); SUMMARY a python expression over s, the
# summary.
expect_json() {
	local want=$1 dirs=$2 summary=$3
	"$PY" - "$T/out" "$want" "$dirs" "$summary" <<-'PYEOF' ||
		import ast, json, sys
		lines = open(sys.argv[1], 'rb').read().decode('ascii').splitlines()
		want, dirs = ast.literal_eval(sys.argv[2]), ast.literal_eval(sys.argv[3])
		objs = [json.loads(l) for l in lines]
		problems = []
		if not objs or set(objs[-1]) != {'summary'}:
		    sys.exit('the last line is not the summary: %r' % lines[-1:])
		s = objs[-1]['summary']
		got = {}
		for o in objs[:-1]:
		    if set(o) - {'path_escaped'} != {'path', 'what', 'detail',
		                                     'directory'}:
		        problems.append('fields %s in %r' % (sorted(o), o))
		        continue
		    # A path that is not UTF-8 is written as on a line of text
		    # (\xNN), and says so.
		    if o.get('path_escaped', False) != ('\\x' in o['path']):
		        problems.append('%s: path_escaped %r' %
		                        (o['path'], o.get('path_escaped')))
		    if o['path'] in got:
		        problems.append('%s twice' % o['path'])
		    got[o['path']] = sorted(o['what'])
		    if o['directory'] != (o['path'] in dirs):
		        problems.append('%s: directory %r' % (o['path'], o['directory']))
		    if not o['detail']:
		        problems.append('%s: no detail' % o['path'])
		want = {p: sorted(w) for p, w in want.items()}
		if got != want:
		    problems.append('paths and what differs: got %r, wanted %r' %
		                    (got, want))
		if s['differences'] != len(want):
		    problems.append('summary: %d differences, wanted %d' %
		                    (s['differences'], len(want)))
		if s['identical'] != (len(want) == 0):
		    problems.append('summary: identical %r' % s['identical'])
		if not eval(sys.argv[4], {'s': s}):
		    problems.append('summary %r: not %s' % (s, sys.argv[4]))
		if problems:
		    sys.exit('; '.join(problems))
	PYEOF
		check_failed "verify --json: see above"
}

# Every object under DIR, its root included and the secondary's own state
# (.georep) left out: "relpath inode ctime_ns", one a line, sorted.
objects() {
	"$PY" - "$1" <<-'PYEOF'
		import os, sys
		top = sys.argv[1]
		st = os.lstat(top)
		out = ['. %d %d' % (st.st_ino, st.st_ctime_ns)]
		for dp, dn, fn in os.walk(top):
		    if dp == top and '.georep' in dn:
		        dn.remove('.georep')
		    for n in dn + fn:
		        p = os.path.join(dp, n)
		        st = os.lstat(p)
		        rel = os.path.relpath(p, top)
		        out.append('%r %d %d' % (rel, st.st_ino, st.st_ctime_ns))
		for l in sorted(out):
		    print(l)
	PYEOF
}
# The objects of BEFORE (a file of objects' lines) still in DIR with the
# same inode and ctime, but those under the paths given (relative).
expect_untouched() {
	local before=$1 dir=$2
	shift 2
	"$PY" - "$before" "$dir" "$@" <<-'PYEOF' ||
		import ast, os, sys
		before, top, touched = sys.argv[1], sys.argv[2], sys.argv[3:]
		bad = []
		for line in open(before):
		    rel, ino, ctime = line.rsplit(' ', 2)
		    rel = '.' if rel == '.' else ast.literal_eval(rel)
		    if any(rel == t or rel.startswith(t + '/') for t in touched):
		        continue
		    try:
		        st = os.lstat(os.path.join(top, rel))
		    except FileNotFoundError:
		        bad.append('%s is gone' % rel)
		        continue
		    if st.st_ino != int(ino):
		        bad.append('%s: another inode' % rel)
		    elif st.st_ctime_ns != int(ctime):
		        bad.append('%s: changed (ctime)' % rel)
		if bad:
		    sys.exit('touched by the repair: ' + '; '.join(bad[:10]))
	PYEOF
		check_failed "objects that did not differ were sent again or changed"
}

# ---------------------------------------------------------------------------
step "the command line"
mkdir -p "$T/u.p" "$T/u.s"
expect_rc 64 "$GEOREP" verify
expect_stderr "georep verify: missing NAME, or PRIMARY and SECONDARY"
expect_rc 64 V "$T/u.p" "$T/u.s" extra
expect_stderr "georep verify: too many arguments"
expect_rc 64 V --bogus "$T/u.p" "$T/u.s"
expect_stderr "unrecognized option '--bogus'"
expect_stderr "Try 'georep verify --help'"
expect_rc 64 V --timeout 0 "$T/u.p" "$T/u.s"
expect_stderr "georep verify: --timeout '0': expected seconds from 1 to 86400"
expect_rc 64 V --exclude '*.tmp' somesession
expect_stderr "georep verify: --exclude is for PRIMARY SECONDARY"
expect_rc 64 V nosuch
expect_stderr "no session 'nosuch' \\(in $T/home/sessions\\)"
expect_rc 66 V "$T/no.p" "$T/u.s"
expect_stderr "primary $T/no.p: No such file or directory"
expect_rc 66 V "$T/u.p" "$T/no.s"
expect_stderr "secondary $T/no.s: No such file or directory"
[[ ! -e $T/no.s ]] || check_failed "verify made the missing secondary"
echo file >"$T/u.file"
expect_rc 66 V "$T/u.p" "$T/u.file"
expect_stderr "cannot open the secondary directory $T/u.file: Not a directory"
expect_rc 0 "$GEOREP" verify --help
expect_stdout '^usage: georep verify \[OPTIONS\] NAME$'
cp "$T/out" "$T/help.want"
expect_rc 0 "$GEOREP" help verify
cmp -s "$T/out" "$T/help.want" ||
	check_failed "georep help verify is not georep verify --help"

step "a session that never synced: 75"
expect_rc 0 G create never "$T/u.p" "$T/never.s"
expect_rc 75 V never
expect_stderr "session never has not synced yet"
[[ ! -e $T/never.s ]] || check_failed "verify made the session's secondary"

# ---------------------------------------------------------------------------
step "identical: a generated tree after georep sync"
P=$T/p S=$T/s
mktree "$P" --seed "$SEED" --files 100
expect_rc 0 gsync "$P" "$S"
compare "$P" "$S"
expect_rc 0 V "$P" "$S"
expect_no_stdout
expect_stderr "^identical: $P $S: [0-9]+ files, [0-9]+ directories, [0-9]+ other objects, .* of content compared; 0 differences$"
expect_rc 0 V --json "$P" "$S"
expect_json '{}' '[]' "s['files'] > 100 and s['directories'] > 100 and s['unreadable'] == 0 and s['changing'] == 0"
[[ $(wc -l <"$T/out") == 1 ]] || check_failed "--json printed more than the summary"
expect_rc 0 V -q "$P" "$S"
[[ ! -s $T/err ]] || check_failed "-q printed: $(cat "$T/err")"
expect_rc 0 V -q --progress "$P" "$S"
expect_stderr "^verify: [0-9]+ files, [0-9]+ directories, .* compared, 0 differences$"
expect_no_stdout

# ---------------------------------------------------------------------------
step "the secondary edited behind georep's back"
E=$T/e ES=$T/es
mkdir -p "$E/d1/gone/sub" "$E/d2" "$E/d3/deep"
for f in content removed mode owner xattr acl becomes_dir keep1 keep2; do
	echo "$f data" >"$E/d1/$f"
done
echo inner >"$E/d1/gone/inner"
echo linked >"$E/d1/hl_a"
ln "$E/d1/hl_a" "$E/d1/hl_b"
ln -s abc "$E/d1/ln_same"
ln -s abc "$E/d1/ln_len"
ln -s xyz "$E/d1/ln_keep"
setfattr -n user.k -v one "$E/d1/xattr"
echo f >"$E/d2/f"
for i in 1 2 3; do head -c $((i * 70000)) /dev/urandom >"$E/d3/deep/f$i"; done
touch -d '2000-01-01 00:00:00.5 UTC' "$E/d2"
expect_rc 0 gsync "$E" "$ES"
compare "$E" "$ES"

# The edits; d1's own mtime put back (what is in it is what differs).
printf 'CONTENT data\n' >"$ES/d1/content"
touch -r "$E/d1/content" "$ES/d1/content"
echo added >"$ES/d1/added"
rm "$ES/d1/removed"
chmod 600 "$ES/d1/mode"
((EUID != 0)) || chown 1234:1234 "$ES/d1/owner"
setfattr -n user.k -v two "$ES/d1/xattr"
((have_acl == 0)) || setfacl -m u:1234:r "$ES/d1/acl"
ln -sfn abd "$ES/d1/ln_same"
ln -sfn abcdef "$ES/d1/ln_len"
touch -h -r "$E/d1/ln_same" "$ES/d1/ln_same"
touch -h -r "$E/d1/ln_len" "$ES/d1/ln_len"
rm "$ES/d1/hl_b"
cp -p "$ES/d1/hl_a" "$ES/d1/hl_b"
rm -r "$ES/d1/gone"
rm "$ES/d1/becomes_dir"
mkdir "$ES/d1/becomes_dir"
touch -r "$E/d1" "$ES/d1"
touch -d '2001-02-03 04:05:06.123456789 UTC' "$ES/d2"

{
	echo 'd1/content: content differs'
	echo 'd1/added: only on the secondary (a file)'
	echo 'd1/removed: only on the primary'
	echo 'd1/mode: mode 0644 on the primary, 0600 on the secondary'
	((EUID != 0)) || echo 'd1/owner: owner 0:0 on the primary, 1234:1234 on the secondary'
	echo 'd1/xattr: xattr user.k: value differs'
	((have_acl == 0)) || echo 'd1/acl: xattr system.posix_acl_access only on the secondary'
	echo 'd1/ln_same: target "abc" on the primary, "abd" on the secondary'
	echo 'd1/ln_len: target "abc" on the primary, "abcdef" on the secondary'
	echo 'd1/hl_a: 2 links on the primary, 1 on the secondary'
	echo 'd1/hl_b: 2 links on the primary, 1 on the secondary'
	echo 'd1/gone/: only on the primary (a directory: with all beneath it)'
	echo 'd1/becomes_dir: a file on the primary, a directory on the secondary'
	echo 'd2/: mtime 2000-01-01T00:00:00.500000000Z on the primary, 2001-02-03T04:05:06.123456789Z on the secondary'
} >"$T/edits.want"
want_json="{'d1/content': ['content'], 'd1/added': ['extra'],
 'd1/removed': ['missing'], 'd1/mode': ['mode'],
 'd1/xattr': ['xattrs'], 'd1/ln_same': ['target'], 'd1/ln_len': ['target'],
 'd1/hl_a': ['links'], 'd1/hl_b': ['links'], 'd1/gone': ['missing'],
 'd1/becomes_dir': ['type'], 'd2': ['mtime']"
((EUID != 0)) || want_json+=", 'd1/owner': ['owner']"
((have_acl == 0)) || want_json+=", 'd1/acl': ['acls']"
want_json+="}"
ndiff=$(wc -l <"$T/edits.want")

expect_rc 1 V "$E" "$ES"
expect_lines <"$T/edits.want"
expect_stderr "^differ: $E $ES: .*; $ndiff differences$"
expect_rc 1 V --json "$E" "$ES"
expect_json "$want_json" "['d1/gone', 'd2']" "s['unreadable'] == 0 and s['changing'] == 0"
# Nothing was changed on either side by looking.
objects "$ES" >"$T/es.before"
expect_rc 1 V "$E" "$ES"
objects "$ES" | cmp -s - "$T/es.before" || check_failed "verify changed the secondary"

step "--no-owners, --no-xattrs, --no-acls leave those out"
expect_rc 1 V --json --no-owners --no-xattrs --no-acls "$E" "$ES"
expect_json "$(sed -E "s/, 'd1\\/(owner|acl)': \\['(owner|acls)'\\]//g; s/'d1\\/xattr': \\['xattrs'\\], //" <<<"$want_json")" \
	"['d1/gone', 'd2']" "True"

# ---------------------------------------------------------------------------
step "--repair: the pair's sync sends what differs, and nothing else"
expect_rc 1 V --repair "$E" "$ES"
expect_lines <"$T/edits.want"
expect_stderr "repairing: georep sync $E $ES"
# Files sent: the one whose content differs, and the regular files the
# secondary lacks (removed, gone/inner, becomes_dir).  Symlinks, the hard
# link and the attributes are entries and attributes, not files.
[[ $(summary_field "files sent") == 4 ]] ||
	check_failed "the repair sent $(summary_field "files sent") files, not 4"
expect_untouched "$T/es.before" "$ES" d1/content d1/added d1/removed \
	d1/mode d1/owner d1/xattr d1/acl d1/ln_same d1/ln_len d1/hl_a d1/hl_b \
	d1/gone d1/becomes_dir d2 d1
expect_rc 0 V "$E" "$ES"
expect_no_stdout
compare "$E" "$ES"
expect_rc 0 gsync "$E" "$ES"
expect_nothing_sent

step "--repair of a pair georep sync never made: refused, nothing changed"
cp -a "$E" "$T/e.copy"
echo other >"$T/e.copy/d2/f"
objects "$T/e.copy" >"$T/copy.before"
expect_rc 64 V --repair "$E" "$T/e.copy"
expect_stderr "--repair: no index for this pair"
objects "$T/e.copy" | cmp -s - "$T/copy.before" ||
	check_failed "a refused --repair changed the secondary"

step "the roots are compared: mode and xattrs"
chmod 700 "$ES"
setfattr -n user.r -v 1 "$ES"
expect_rc 1 V "$E" "$ES"
expect_lines <<-'EOF'
	./: mode 0755 on the primary, 0700 on the secondary; xattr user.r only on the secondary
	EOF
expect_rc 1 V --json "$E" "$ES"
expect_json "{'.': ['mode', 'xattrs']}" "['.']" "True"
expect_rc 1 V --repair "$E" "$ES"
expect_rc 0 V "$E" "$ES"
compare "$E" "$ES"

step "--repair: a directory moved on the secondary and changed there"
# The walk of the repair finds d1/gone/sub's inode at d1/becomes_dir: as
# if the number had been reused by another directory, it must not take
# that directory's attributes for sub's.
rm "$ES/d1/becomes_dir"
mv "$ES/d1/gone/sub" "$ES/d1/becomes_dir"
chmod 700 "$ES/d1/becomes_dir"
touch -d '2002-02-02 UTC' "$ES/d1/becomes_dir"
touch -r "$E/d1/gone" "$ES/d1/gone"
touch -r "$E/d1" "$ES/d1"
expect_rc 1 V "$E" "$ES"
expect_lines <<-'EOF'
	d1/becomes_dir: a file on the primary, a directory on the secondary
	d1/gone/sub/: only on the primary (a directory: with all beneath it)
	EOF
expect_rc 1 V --repair "$E" "$ES"
expect_rc 0 V "$E" "$ES"
expect_no_stdout
compare "$E" "$ES"

# ---------------------------------------------------------------------------
# A session: verify NAME, --repair NAME, and what changed since the sync
# point.
session_round() {
	local detector=$1
	sess=$2
	local SP=$T/$sess.p SS=$T/$sess.s
	step "a session ($detector): verify NAME"
	mkdir -p "$SP/d" "$SP/live"
	for f in a b c m keep; do echo "$f data" >"$SP/d/$f"; done
	for f in c gone2; do echo "$f data" >"$SP/live/$f"; done
	echo tmp >"$SP/d/p.tmp"
	expect_rc 0 G create "$sess" "$SP" "$SS" \
		--config change_detector="$detector" --config crawl_interval=100ms \
		--config exclude='*.tmp'
	expect_rc 0 G start "$sess"
	set_checkpoint_judged
	wait_checkpoint
	expect_rc 0 V "$sess"
	expect_no_stdout
	expect_stderr "^identical: $SP $SS: 7 files, 2 directories"

	# The session's own excludes apply: a name it leaves alone on the
	# secondary is not reported.
	echo mine >"$SS/d/s.tmp"
	printf 'A data\n' >"$SS/d/a"
	touch -r "$SP/d/a" "$SS/d/a"
	echo extra >"$SS/d/extra"
	rm "$SS/d/b"
	chmod 600 "$SS/d/m"
	touch -r "$SP/d" "$SS/d"
	objects "$SS" >"$T/$sess.before"
	expect_rc 1 V "$sess"
	expect_lines <<-'EOF'
		d/a: content differs
		d/extra: only on the secondary (a file)
		d/b: only on the primary
		d/m: mode 0644 on the primary, 0600 on the secondary
		EOF
	expect_rc 1 V --json "$sess"
	expect_json "{'d/a': ['content'], 'd/extra': ['extra'], 'd/b': ['missing'], 'd/m': ['mode']}" \
		'[]' "s['changing'] == 0"

	step "a session ($detector): verify --repair NAME, then a checkpoint"
	expect_rc 1 V --repair "$sess"
	expect_stderr "the running session repairs 4 differences now"
	until_true "the session took the repair list" 30 eval \
		"[[ ! -e $T/home/sessions/$sess/repair && ! -e $T/home/sessions/$sess/repair.taken ]]"
	set_checkpoint_judged
	wait_checkpoint
	expect_rc 0 V "$sess"
	expect_no_stdout
	compare "$SP" "$SS" --exclude d/p.tmp --exclude d/s.tmp
	no_failures
	expect_untouched "$T/$sess.before" "$SS" d/a d/extra d/b d/m d
	[[ $(cat "$SS/d/s.tmp") == mine ]] ||
		check_failed "the repair touched a name the session excludes"

	step "a session ($detector): what changed since the sync point is not judged"
	expect_rc 0 G pause "$sess"
	wait_for "d['state'] == 'Paused'" "Paused state"
	printf 'C data\n' >"$SP/live/c"
	echo new >"$SP/live/new"
	rm "$SP/live/gone2"
	expect_rc 0 V --json "$sess"
	expect_json '{}' '[]' "s['changing'] == 4"
	expect_rc 0 V "$sess"
	expect_stderr "; 4 changed since the sync point, not judged$"
	expect_rc 0 G resume "$sess"
	set_checkpoint_judged
	wait_checkpoint
	expect_rc 0 V --json "$sess"
	expect_json '{}' '[]' "s['changing'] == 0"
	compare "$SP" "$SS" --exclude d/p.tmp --exclude d/s.tmp

	step "a session ($detector): --repair NAME while it is stopped"
	expect_rc 0 G stop "$sess"
	printf 'KEEP DATA\n' >"$SS/d/keep"
	touch -r "$SP/d/keep" "$SS/d/keep"
	expect_rc 1 V --repair "$sess"
	expect_lines <<<'d/keep: content differs'
	expect_stderr "1 difference to repair at the session's next start"
	[[ -e $T/home/sessions/$sess/repair ]] || fail "no repair list left"
	expect_rc 0 G start "$sess"
	until_true "the session took the repair list" 30 eval \
		"[[ ! -e $T/home/sessions/$sess/repair && ! -e $T/home/sessions/$sess/repair.taken ]]"
	set_checkpoint_judged
	wait_checkpoint
	expect_rc 0 V "$sess"
	expect_no_stdout
	no_failures
	expect_rc 0 G stop "$sess"
	check_log_format
}
session_round inotify si
session_round crawl sc

step "a session with ignore_deletes: what it keeps on the secondary is no difference"
sess=sk
KP=$T/sk.p KS=$T/sk.s
mkdir -p "$KP/d"
for f in a b c; do echo "$f" >"$KP/d/$f"; done
ln "$KP/d/c" "$KP/d/c2"
expect_rc 0 G create sk "$KP" "$KS" --config change_detector=inotify \
	--config ignore_deletes=true
expect_rc 0 G start sk
set_checkpoint_judged
wait_checkpoint
rm "$KP/d/b" "$KP/d/c2"
set_checkpoint_judged
wait_checkpoint
[[ -e $KS/d/b && -e $KS/d/c2 ]] || fail "ignore_deletes did not keep d/b and d/c2"
expect_rc 0 V sk
expect_no_stdout
chmod 600 "$KS/d/a"
echo extra >"$KS/d/extra"
touch -r "$KP/d" "$KS/d"
expect_rc 1 V --repair sk
expect_lines <<<'d/a: mode 0644 on the primary, 0600 on the secondary'
until_true "the session took the repair list" 30 eval \
	"[[ ! -e $T/home/sessions/sk/repair && ! -e $T/home/sessions/sk/repair.taken ]]"
set_checkpoint_judged
wait_checkpoint
expect_rc 0 V sk
expect_no_stdout
[[ -e $KS/d/b && -e $KS/d/c2 && -e $KS/d/extra ]] ||
	check_failed "the repair removed names ignore_deletes keeps: $(ls "$KS/d")"
expect_rc 0 G stop sk

# ---------------------------------------------------------------------------
step "content by digest: sparse and dense, holes and zeros"
D=$T/dg DS=$T/dgs
mkdir "$D" "$DS"
truncate -s 8M "$D/sparse"
head -c 300000 /dev/urandom | dd of="$D/sparse" bs=1 seek=$((3 * 1048576 + 100)) conv=notrunc status=none
cp --sparse=never "$D/sparse" "$DS/sparse"
truncate -s 1M "$D/hole"
head -c 1M /dev/zero >"$DS/hole"
head -c 100000 /dev/urandom >"$D/tail"
cp "$D/tail" "$DS/tail"
for f in sparse hole tail; do touch -r "$D/$f" "$DS/$f"; done
touch -r "$D" "$DS"
# Each side as meant: the primary's holes are holes, the secondary's are
# not.
(($(stat -c %b "$D/sparse") * 512 < 1048576)) || fail "the primary's file is not sparse"
(($(stat -c %b "$DS/sparse") * 512 >= 8388608)) || fail "the secondary's file is sparse"
(($(stat -c %b "$D/hole") == 0)) || fail "the primary's hole has blocks"
expect_rc 0 V "$D" "$DS"
expect_no_stdout
"$PY" - "$DS/tail" <<-'PYEOF'
	import sys
	with open(sys.argv[1], 'r+b') as f:
	    f.seek(-1, 2)
	    b = f.read(1)
	    f.seek(-1, 2)
	    f.write(bytes([b[0] ^ 1]))
PYEOF
touch -r "$D/tail" "$DS/tail"
expect_rc 1 V "$D" "$DS"
expect_lines <<<'tail: content differs'
# Counts of one are singular, in the summary and in the progress lines.
expect_rc 1 V --progress "$D" "$DS"
expect_stderr "^verify: 3 files, 0 directories, .* compared, 1 difference$"
expect_stderr "^differ: $D $DS: 3 files, 0 directories, 0 other objects, .*; 1 difference$"
expect_no_stderr '(^|[^0-9.])1 (files|directories|differences|objects)'

# ---------------------------------------------------------------------------
step "--exclude: names excluded are not compared"
X=$T/x XS=$T/xs
mkdir -p "$X/cache/sub"
echo keep >"$X/keep"
echo tmp >"$X/a.tmp"
echo c >"$X/cache/sub/c"
expect_rc 0 gsync "$X" "$XS"
echo TMP >"$XS/a.tmp"
echo more >"$XS/b.tmp"
echo C >"$XS/cache/sub/c"
echo new >"$XS/cache/new"
touch -r "$X/a.tmp" "$XS/a.tmp"
touch -r "$X/cache/sub/c" "$XS/cache/sub/c"
touch -r "$X/cache" "$XS/cache"
touch -r "$X" "$XS"
expect_rc 1 V "$X" "$XS"
expect_lines <<-'EOF'
	a.tmp: content differs
	b.tmp: only on the secondary (a file)
	cache/new: only on the secondary (a file)
	cache/sub/c: content differs
	EOF
expect_rc 0 V --exclude '*.tmp' --exclude cache "$X" "$XS"
expect_no_stdout
expect_rc 1 V --exclude '*.tmp' "$X" "$XS"
expect_lines <<-'EOF'
	cache/new: only on the secondary (a file)
	cache/sub/c: content differs
	EOF
expect_rc 1 V --exclude sub --exclude b.tmp "$X" "$XS"
expect_lines <<-'EOF'
	a.tmp: content differs
	cache/new: only on the secondary (a file)
	EOF

step "--repair with --exclude: what is excluded is left alone"
# A name too many on the secondary (extra), so that the repair walks it.
echo extra >"$XS/extra"
chmod 600 "$XS/keep"
touch -r "$X" "$XS"
expect_rc 1 V --repair --exclude '*.tmp' --exclude cache "$X" "$XS"
expect_lines <<-'EOF'
	extra: only on the secondary (a file)
	keep: mode 0644 on the primary, 0600 on the secondary
	EOF
expect_rc 0 V --exclude '*.tmp' --exclude cache "$X" "$XS"
[[ $(cat "$XS/a.tmp") == TMP && $(cat "$XS/b.tmp") == more &&
	$(cat "$XS/cache/new") == new && $(cat "$XS/cache/sub/c") == C ]] ||
	check_failed "the repair changed excluded names: $(ls -la "$XS" "$XS/cache")"

step "--repair with many --exclude: the sync it runs gets every one"
many=()
for i in $(seq 1 80); do many+=(--exclude "unused$i"); done
echo extra2 >"$XS/extra2"
chmod 600 "$XS/keep"
touch -r "$X" "$XS"
expect_rc 1 V --repair "${many[@]}" --exclude '*.tmp' --exclude cache "$X" "$XS"
expect_rc 0 V --exclude '*.tmp' --exclude cache "$X" "$XS"
[[ $(cat "$XS/a.tmp") == TMP && $(cat "$XS/b.tmp") == more &&
	$(cat "$XS/cache/new") == new ]] ||
	check_failed "the repair changed excluded names: $(ls -la "$XS" "$XS/cache")"

# ---------------------------------------------------------------------------
step "a directory of more than a page of entries"
B=$T/b BS=$T/bs
mkdir -p "$B/big"
"$PY" - "$B/big" <<-'PYEOF'
	import os, sys
	for i in range(15000):
	    open(os.path.join(sys.argv[1], 'f%05d' % i), 'w').close()
PYEOF
expect_rc 0 gsync "$B" "$BS"
# A listing pages at about 1 MiB, some 11000 of these entries: the
# differences are on the second page.
expect_rc 0 timeout 120 "$GEOREP" verify "$B" "$BS"
expect_no_stdout
expect_stderr "identical: .*: 15000 files, 1 directory"
: >"$BS/big/f12000x"
rm "$BS/big/f13000"
touch -r "$B/big" "$BS/big"
expect_rc 1 timeout 120 "$GEOREP" verify "$B" "$BS"
expect_lines <<-'EOF'
	big/f12000x: only on the secondary (a file)
	big/f13000: only on the primary
	EOF

# ---------------------------------------------------------------------------
step "names and targets that are not UTF-8 or hold a newline"
O=$T/o OS=$T/os
mkdir "$O"
echo odd >"$O/odd"$'\xff'"name"
echo nl >"$O/nl"$'\n'"name"
ln -s "t"$'\xfe\n'"x" "$O/oddlink"
expect_rc 0 gsync "$O" "$OS"
echo ODD >"$OS/odd"$'\xff'"name"
touch -r "$O/odd"$'\xff'"name" "$OS/odd"$'\xff'"name"
chmod 600 "$OS/nl"$'\n'"name"
ln -sfn "t"$'\xfe\n'"y" "$OS/oddlink"
touch -h -r "$O/oddlink" "$OS/oddlink"
touch -r "$O" "$OS"
expect_rc 1 V "$O" "$OS"
expect_lines <<-'EOF'
	nl\x0aname: mode 0644 on the primary, 0600 on the secondary
	oddlink: target "t\xfe\x0ax" on the primary, "t\xfe\x0ay" on the secondary
	odd\xffname: content differs
	EOF
expect_rc 1 V --json "$O" "$OS"
expect_json "{'odd\\\\xffname': ['content'], 'nl\\nname': ['mode'], 'oddlink': ['target']}" '[]' "True"

# ---------------------------------------------------------------------------
# Over ssh, with an sshd of the scenario's own (as the ssh scenarios).
if ((EUID != 0)) || [[ ! -x /usr/sbin/sshd ]] || ! command -v ssh >/dev/null; then
	echo "SKIP-PART: over ssh (needs root, sshd and ssh)" >&2
else
	step "over ssh: identical, then one difference"
	source "$(dirname "$0")/lib_ssh.sh"
	ssh_setup
	expect_rc 0 V --ssh "$SSH_CMD" "$P" "$SSH_HOST:$S"
	expect_no_stdout
	expect_stderr "identical: $P $SSH_HOST:$S: "
	f=$(cd "$S" && find . -type f -size +1k -path './random/*' | head -1)
	f=${f#./}
	[[ -n $f ]] || fail "no file of 1 KiB or more in $S/random"
	printf 'X' | dd of="$S/$f" bs=1 seek=10 conv=notrunc status=none
	touch -r "$P/$f" "$S/$f"
	expect_rc 1 V --ssh "$SSH_CMD" "$P" "$SSH_HOST:$S"
	expect_lines <<<"$f: content differs"
	expect_rc 1 V --json --ssh "$SSH_CMD" "$P" "$SSH_HOST:$S"
	expect_json "{'$f': ['content']}" '[]' "True"

	step "over ssh: a SECONDARY that does not exist: 66, not made"
	expect_rc 66 V --ssh "$SSH_CMD" "$P" "$SSH_HOST:$T/nowhere"
	expect_stderr "$T/nowhere: No such file or directory"
	[[ ! -e $T/nowhere ]] || check_failed "verify made $T/nowhere"
	expect_rc 66 V --ssh "$SSH_CMD" "$P" "$SSH_HOST:$T/u.file"
	expect_stderr "cannot open the secondary directory $T/u.file: Not a directory"
fi
