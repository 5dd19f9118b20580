#!/usr/bin/env bash
# After a first sync, each kind of change alone, each followed by a sync and
# a full comparison; changes that move no data must send none.  Then all of
# them again, on other objects, in one round.
. "$(dirname "$0")/lib.sh"
need_root # chown, mknod, trusted.* xattrs

seed=${SEED:-$RANDOM}
echo "seed $seed"
mktree P --seed "$seed" --files 200
python3 - <<'PY'
import os
for d in ("P/big", "P/big_b"):
    os.mkdir(d)
for i in range(10000):
    with open("P/big/f%05d" % i, "wb") as f:
        f.write(b"%d\n" % i)
for i in range(50):
    with open("P/big_b/g%02d" % i, "wb") as f:
        f.write(b"g%d\n" % i * 100)
PY

step "initial sync"
expect_rc 0 gsync P S
compare P S

# sync_round NAME [nothing-sent]: sync, compare, and optionally check that
# no file content travelled.
sync_round() {
	step "sync after: $1"
	expect_rc 0 gsync -v P S
	compare --sparse P S
	if [[ ${2:-} == nothing-sent ]]; then
		expect_nothing_sent
	fi
}

# Content that must differ from the old one, same size.
same_size_rewrite() {
	python3 - "$1" <<'PY'
import os, sys
p = sys.argv[1]
st = os.stat(p)
with open(p, "r+b") as f:
    old = f.read()
    f.seek(0)
    f.write(bytes(b ^ 0x5A for b in old))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
assert os.stat(p).st_mtime_ns == st.st_mtime_ns
assert os.stat(p).st_size == st.st_size
PY
}

mv P/files/small_1 P/files/small_1.renamed
sync_round "rename a file" nothing-sent

mv P/big P/big.renamed
sync_round "rename a directory holding 10,000 files" nothing-sent
(($(summary_field "entries changed") <= 2)) ||
	fail "renaming one directory changed $(summary_field "entries changed") entries"

mv P/files/medium P/dirs/d1/e2/medium
sync_round "move a file to another directory" nothing-sent

mv P/dirs/d2 P/random/d2.moved
sync_round "move a directory to another directory" nothing-sent

ln P/files/big P/dirs/d1/big.link
sync_round "a new hard link" nothing-sent

ln P/files/hl_a P/dirs/hl_a.third
rm P/files/hl_b
sync_round "a hard link added and another removed" nothing-sent

rm P/files/small_2
sync_round "delete a file" nothing-sent

rm -rf P/dirs/d0
sync_round "delete a tree" nothing-sent

rm P/files/small_3
mkdir P/files/small_3
echo inner >P/files/small_3/inner
sync_round "a file replaced by a directory of the same name"

rm -rf P/dirs/nest
ln -s d1 P/dirs/nest
sync_round "a directory replaced by a symlink of the same name"

rm P/links/rel
echo "was a symlink" >P/links/rel
sync_round "a symlink replaced by a file of the same name"

rm P/links/todir
mkdir P/links/todir
sync_round "a symlink replaced by a directory of the same name" nothing-sent

same_size_rewrite P/files/small_4
sync_round "same size, same mtime, new content"

same_size_rewrite P/files/big2
sync_round "same size, same mtime, new content (a big file)"

truncate -s 1000 P/files/big2
sync_round "truncate (shrink)"

truncate -s 9M P/files/small_5
sync_round "truncate (grow with a hole)"

truncate -s 0 P/files/small_6
sync_round "truncate to empty"

chmod 4711 P/files/small_7
chmod 0700 P/dirs/d1
sync_round "chmod only" nothing-sent

chown 2222:3333 P/files/small_0 P/dirs/d1/e1
chown -h 4444:5555 P/links/abs
sync_round "chown only" nothing-sent

setfattr -n user.added -v new P/files/page
setfattr -n user.plain -v changed P/xattrs/file
setfattr -x user.empty P/xattrs/file
setfattr -h -n trusted.new -v x P/links/dangling
sync_round "xattrs only" nothing-sent

setfacl -m u:777:r P/files/page
setfacl -d -m u:888:rwx P/dirs/d1
setfacl -b P/xattrs/acl_file
sync_round "ACLs only" nothing-sent

touch -d '2001-02-03 04:05:06.123456789' P/files/page
touch -h -d '2002-02-03 04:05:06.987654321' P/links/abs
touch -d '2003-02-03 04:05:06.5' P/dirs/d1
# (A new mtime may mean new content: the file may be checked or sent again.)
sync_round "mtimes only"

echo aaaa >P/swap_a
echo bbbbbbbb >P/swap_b
mkdir -p P/swapdir_a/x P/swapdir_b/y
sync_round "files for the swaps"
mv P/swap_a P/swap_tmp
mv P/swap_b P/swap_a
mv P/swap_tmp P/swap_b
sync_round "swap two files through a temporary name" nothing-sent
mv P/swapdir_a P/swapdir_tmp
mv P/swapdir_b P/swapdir_a
mv P/swapdir_tmp P/swapdir_b
sync_round "swap two directories through a temporary name" nothing-sent

mkdir P/newdir
mv P/files/text P/newdir/text
mv P/dirs/d1/e0 P/newdir/e0
sync_round "rename into a directory made in the same round" nothing-sent

mkdir -p P/inv/outer/inner
echo leaf >P/inv/outer/inner/leaf
sync_round "files for the inversion"
mv P/inv/outer/inner P/inv/inner
mv P/inv/outer P/inv/inner/outer
sync_round "a child becomes the parent of its parent" nothing-sent

mv P/files/small_4 P/files/hl_a
sync_round "rename a file over another one (a hard-linked one)" nothing-sent

mv P/files/big P/files/big.moved
printf 'a new file where the old one was\n' >P/files/big
sync_round "rename a file and make a new one under the old name"

mkfifo P/files/new_fifo
mknod P/files/new_chr c 4 5
sync_round "a new fifo and a new device"

# Everything again, on other objects, in one round.
step "all kinds of change in one round"
mv P/files/small_0 P/files/small_0.renamed
mv P/big.renamed P/big.again
mv P/big.again/f00001 P/dirs/
ln P/files/three P/newdir/three.d
rm P/files/empty
rm -rf P/dirs/d1/e1
rm P/random/file1* 2>/dev/null || true
rm P/files/page
mkdir P/files/page
echo x >P/files/page/x
rm -rf P/names/"$(printf 'dir\nwith newline')"
ln -s elsewhere P/names/"$(printf 'dir\nwith newline')"
rm P/links/abs
echo "was abs" >P/links/abs
same_size_rewrite P/files/small_7
truncate -s 100 P/files/big.moved
truncate -s 3M P/files/hl_a
chmod 0600 P/files/small_0.renamed
chown 9:9 P/files/three
setfattr -n user.all -v 1 P/dirs/f00001
mv P/swap_a P/swap_tmp
mv P/swap_b P/swap_a
mv P/swap_tmp P/swap_b
mkdir P/newdir2
mv P/inv P/newdir2/inv
mv P/newdir2/inv/inner/outer P/newdir2/outer
mv P/newdir P/newdir2/outer/newdir
echo fresh >P/newdir2/outer/newdir/fresh
mv P/files/hl_a P/newdir2/hl_a
mv P/big_b P/dirs/big_b
rm -rf P/dirs/big_b/g1*
sync_round "all kinds of change in one round"

step "and one more sync changes nothing"
expect_rc 0 gsync P S
expect_nothing_sent
[[ $(summary_field "entries changed") == 0 ]] || fail "entries changed"
[[ $(summary_field "attributes set") == 0 ]] || fail "attributes set"
compare --sparse P S
