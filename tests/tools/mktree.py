#!/usr/bin/env python3
"""mktree.py DIR [--seed N] [--files N]: make a test tree with every kind of
object a replica has to carry.

DIR is created (its parent must exist) or must be empty.  The same seed gives
the same tree (names, contents, modes, owners, mtimes, xattrs).  As root it
also makes device nodes, foreign owners, trusted.* xattrs and a file
capability.

What it holds:
  files/      empty, small, 1 MiB+ files, a sparse file, hard links (two names
              in one directory, a file with three names across directories)
  dirs/       nested and empty directories
  links/      symlinks: relative, absolute, dangling, to a directory
  special/    a fifo, a char and a block device (root)
  modes/      setuid, setgid, sticky, 0600/0000 files, 0700/0555/0000 dirs
  owners/     files, a directory and a symlink owned by other uids/gids (root)
  xattrs/     user.* (and trusted.* as root) xattrs on files, a directory and
              a symlink; POSIX ACLs (access, and default on a directory); a
              file capability (root)
  names/      spaces, a newline, non-UTF-8 bytes, a 255-byte name, odd
              characters
  deep/       a chain of more than 100 directories whose total path is longer
              than PATH_MAX (4096), with a file and a symlink at the bottom
  random/     --files more files of random sizes in random subdirectories
Every object gets an mtime with nanoseconds; directories get theirs last.
"""

import argparse
import os
import random
import shutil
import stat
import struct
import subprocess
import sys

ROOT = os.geteuid() == 0
DEEP_LEVELS = 110
DEEP_NAME = 40          # bytes per level: 110 * 41 > 4096


class Maker:
    def __init__(self, top, seed, nfiles):
        self.top = top
        self.rng = random.Random(seed)
        self.nfiles = nfiles
        self.dirs = []          # relative paths of directories (bytes)
        self.others = []        # relative paths of non-directories
        self.closed = []        # (dir, mode) closed last (without root)
        self.base_ns = 1_500_000_000 * 10**9

    # -- helpers ---------------------------------------------------------

    def p(self, rel):
        return os.path.join(self.top, rel)

    def data(self, n):
        return self.rng.randbytes(n)

    def mkdir(self, rel, mode=0o755):
        os.mkdir(self.p(rel))
        os.chmod(self.p(rel), mode)
        self.dirs.append(rel)

    def file(self, rel, size=None, content=None, mode=0o644):
        if content is None:
            content = self.data(size)
        fd = os.open(self.p(rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, content)
        finally:
            os.close(fd)
        os.chmod(self.p(rel), mode)
        self.others.append(rel)

    def symlink(self, target, rel):
        os.symlink(target, self.p(rel))
        self.others.append(rel)

    def link(self, src, rel):
        os.link(self.p(src), self.p(rel), follow_symlinks=False)
        self.others.append(rel)

    def ns(self):
        """A distinct, seeded mtime with a nanosecond part."""
        return self.base_ns + self.rng.randrange(0, 400_000_000) * 10**9 + \
            self.rng.randrange(1, 10**9)

    # -- the parts -------------------------------------------------------

    def files(self):
        self.mkdir(b"files")
        self.file(b"files/empty", 0)
        for i in range(8):
            self.file(b"files/small_%d" % i, self.rng.randrange(1, 4096))
        self.file(b"files/page", 4096)
        self.file(b"files/medium", 100_000)
        self.file(b"files/big", (1 << 20) + 12345)
        self.file(b"files/big2", 3 * (1 << 20) + 1)
        self.file(b"files/text", content=b"hello\n" * 1000)
        # A sparse file: 64 MiB long, a few data blocks between holes.
        rel = b"files/sparse"
        fd = os.open(self.p(rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.ftruncate(fd, 64 << 20)
        for off in (0, 5 << 20, (33 << 20) + 123, (64 << 20) - 100):
            os.pwrite(fd, self.data(100), off)
        os.close(fd)
        self.others.append(rel)
        # Sparse, ending with a hole.
        rel = b"files/sparse_tail"
        fd = os.open(self.p(rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.pwrite(fd, self.data(5000), 1 << 20)
        os.ftruncate(fd, 16 << 20)
        os.close(fd)
        self.others.append(rel)
        # Hard links: two names in one directory; one file with three names.
        self.file(b"files/hl_a", 777)
        self.link(b"files/hl_a", b"files/hl_b")

    def dirs_part(self):
        self.mkdir(b"dirs")
        for a in range(3):
            self.mkdir(b"dirs/d%d" % a)
            for b in range(3):
                self.mkdir(b"dirs/d%d/e%d" % (a, b))
                self.file(b"dirs/d%d/e%d/f" % (a, b), self.rng.randrange(0, 3000))
        self.mkdir(b"dirs/empty")
        self.mkdir(b"dirs/d0/e0/empty_too")
        self.mkdir(b"dirs/nest")
        rel = b"dirs/nest"
        for i in range(12):
            rel += b"/n%d" % i
            self.mkdir(rel)
        self.file(rel + b"/leaf", 10)
        # The three-name file: files/, dirs/d1 and links/ (made later).
        self.file(b"files/three", 3000)
        self.link(b"files/three", b"dirs/d1/three_b")

    def links(self):
        self.mkdir(b"links")
        self.link(b"files/three", b"links/three_c")
        self.symlink(b"../files/small_0", b"links/rel")
        self.symlink(b"/etc/hostname", b"links/abs")
        self.symlink(b"does/not/exist", b"links/dangling")
        self.symlink(b"../dirs/d0", b"links/todir")
        self.symlink(b".", b"links/self_dir")
        self.symlink(b"loop_b", b"links/loop_a")
        self.symlink(b"loop_a", b"links/loop_b")
        self.symlink(b"x" * 1000, b"links/long_target")
        self.symlink(b"\xff\xfe target with\nnewline", b"links/odd_target")
        # A hard link to a symlink.
        self.link(b"links/rel", b"links/rel_hardlink")

    def special(self):
        self.mkdir(b"special")
        os.mkfifo(self.p(b"special/fifo"), 0o640)
        self.others.append(b"special/fifo")
        if ROOT:
            os.mknod(self.p(b"special/chr"), 0o660 | stat.S_IFCHR,
                     os.makedev(1, 3))
            os.mknod(self.p(b"special/blk"), 0o640 | stat.S_IFBLK,
                     os.makedev(7, 200))
            os.mknod(self.p(b"special/chr_big"), 0o600 | stat.S_IFCHR,
                     os.makedev(300, 70000))
            self.others += [b"special/chr", b"special/blk", b"special/chr_big"]

    def modes(self):
        self.mkdir(b"modes")
        for name, mode in ((b"suid", 0o4755), (b"sgid", 0o2755),
                           (b"suid_sgid_sticky", 0o7777), (b"sticky_file", 0o1644),
                           (b"f0600", 0o600), (b"f0000", 0o000),
                           (b"f0444", 0o444), (b"f0111", 0o111)):
            self.file(b"modes/" + name, 100, mode=mode)
        self.mkdir(b"modes/sticky_dir", 0o1777)
        self.mkdir(b"modes/sgid_dir", 0o2775)
        self.mkdir(b"modes/d0700", 0o700)
        self.mkdir(b"modes/d0555", 0o555)
        self.mkdir(b"modes/d0000", 0o000)
        # Contents in the closed ones (root writes there anyway; otherwise
        # open them for a moment).  Without root they stay open until
        # every mtime is set (mtimes() closes them): their contents could
        # not be reached otherwise.
        for d in (b"modes/d0555", b"modes/d0000", b"modes/d0700"):
            old = stat.S_IMODE(os.stat(self.p(d)).st_mode)
            os.chmod(self.p(d), 0o700)
            self.file(d + b"/inside", 50)
            self.mkdir(d + b"/sub", 0o751)
            self.file(d + b"/sub/deeper", 20, mode=0o640)
            if ROOT:
                os.chmod(self.p(d), old)
            else:
                self.closed.append((d, old))

    def owners(self):
        self.mkdir(b"owners")
        self.file(b"owners/u1234_g5678", 10)
        self.file(b"owners/u0_g5678", 10)
        self.file(b"owners/u4321_g0", 10)
        self.mkdir(b"owners/dir_1234")
        self.file(b"owners/dir_1234/inside", 10)
        self.symlink(b"u1234_g5678", b"owners/link_77")
        self.file(b"owners/suid_owned", 10, mode=0o4755)
        if ROOT:
            os.chown(self.p(b"owners/u1234_g5678"), 1234, 5678)
            os.chown(self.p(b"owners/u0_g5678"), 0, 5678)
            os.chown(self.p(b"owners/u4321_g0"), 4321, 0)
            os.chown(self.p(b"owners/dir_1234"), 1234, 1234)
            os.chown(self.p(b"owners/dir_1234/inside"), 65534, 65534)
            os.lchown(self.p(b"owners/link_77"), 77, 77)
            os.chown(self.p(b"owners/suid_owned"), 1234, 5678)
            # chown clears setuid: set it again after.
            os.chmod(self.p(b"owners/suid_owned"), 0o4755)

    def xattrs(self):
        self.mkdir(b"xattrs")
        f = b"xattrs/file"
        self.file(f, 200)
        os.setxattr(self.p(f), b"user.plain", b"value")
        os.setxattr(self.p(f), b"user.empty", b"")
        os.setxattr(self.p(f), b"user.binary", bytes(range(256)))
        # ext4 keeps all xattrs of an inode in one block: a big one alone.
        self.file(b"xattrs/bigx", 10)
        os.setxattr(self.p(b"xattrs/bigx"), b"user.big", self.data(3000))
        self.mkdir(b"xattrs/dir")
        os.setxattr(self.p(b"xattrs/dir"), b"user.on_dir", b"d")
        self.symlink(b"file", b"xattrs/link")
        self.file(b"xattrs/many", 10)
        for i in range(30):
            os.setxattr(self.p(b"xattrs/many"), b"user.k%02d" % i, b"v%d" % i)
        if ROOT:
            os.setxattr(self.p(f), b"trusted.t", b"trusted value")
            os.setxattr(self.p(b"xattrs/link"), b"trusted.on_link", b"L",
                        follow_symlinks=False)
            os.setxattr(self.p(b"xattrs/dir"), b"trusted.on_dir", b"T")
        # ACLs: an access ACL on a file, access + default on a directory.
        self.file(b"xattrs/acl_file", 30)
        self.mkdir(b"xattrs/acl_dir")
        subprocess.run([b"setfacl", b"-m", b"u:1234:rw,g:5678:r,m::rw",
                        self.p(b"xattrs/acl_file")], check=True)
        subprocess.run([b"setfacl", b"-m", b"u:1234:rwx,g:5678:rx",
                        self.p(b"xattrs/acl_dir")], check=True)
        subprocess.run([b"setfacl", b"-d", b"-m", b"u:4321:rx,g::r,o::-",
                        self.p(b"xattrs/acl_dir")], check=True)
        # A file made in the directory inherits the default ACL.
        self.file(b"xattrs/acl_dir/inherits", 5, mode=0o640)
        if ROOT:
            # security.capability, VFS_CAP_REVISION_2: cap_net_raw (13)
            # permitted and effective.  Last: chown and writes clear it.
            self.file(b"xattrs/capable", 64, mode=0o755)
            cap = struct.pack("<IIIII", 0x02000000 | 1, 1 << 13, 0, 0, 0)
            os.setxattr(self.p(b"xattrs/capable"), b"security.capability", cap)

    def names(self):
        self.mkdir(b"names")
        for name in (b"with space", b" leading space", b"trailing space ",
                     b"new\nline", b"\nstarts with newline", b"tab\there",
                     b"\xff\xfe", b"latin1 caf\xe9", b"utf8 caf\xc3\xa9",
                     b"-dash", b"--double", b"*?[glob]", b"back\\slash",
                     b"quote'\"", b"$dollar", b"...", b"..x", b".hidden",
                     b"\x01\x7f ctl", b"a" * 255, b"\xe2\x80\x8b zero width",
                     b".georep", b"colon:name"):
            self.file(b"names/" + name, self.rng.randrange(0, 100))
        self.mkdir(b"names/dir\nwith newline")
        self.file(b"names/dir\nwith newline/\xff", 3)
        self.mkdir(b"names/" + b"d" * 255)
        self.file(b"names/" + b"d" * 255 + b"/" + b"f" * 255, 7)
        self.symlink(b"\xff\xfe", b"names/link\xff")

    def deep(self):
        """A chain longer than PATH_MAX, made one level at a time by fd."""
        self.mkdir(b"deep")
        fd = os.open(self.p(b"deep"), os.O_RDONLY | os.O_DIRECTORY)
        fds = [fd]
        try:
            for i in range(DEEP_LEVELS):
                name = (b"level%03d_" % i).ljust(DEEP_NAME, b"x")
                os.mkdir(name, 0o755, dir_fd=fd)
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                fds.append(fd)
            f = os.open(b"bottom", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(f, b"at the bottom\n")
            os.close(f)
            os.symlink(b"bottom", b"bottom_link", dir_fd=fd)
            os.link(b"bottom", b"bottom_hardlink", src_dir_fd=fd, dst_dir_fd=fd)
            # mtimes bottom up, with fds: paths are too long.
            os.utime(b"bottom", ns=(self.ns(), self.ns()), dir_fd=fd)
            os.utime(b"bottom_link", ns=(self.ns(), self.ns()), dir_fd=fd,
                     follow_symlinks=False)
            for i in range(len(fds) - 1, -1, -1):
                t = self.ns()
                os.utime(fds[i], ns=(t, t))
        finally:
            for f in fds:
                os.close(f)
        self.dirs.remove(b"deep")  # its mtime is set above

    def random_files(self):
        self.mkdir(b"random")
        dirs = [b"random"]
        for i in range(max(1, self.nfiles // 20)):
            parent = self.rng.choice(dirs)
            d = parent + b"/r%d" % i
            self.mkdir(d)
            dirs.append(d)
        for i in range(self.nfiles):
            r = self.rng.random()
            size = 0 if r < 0.05 else self.rng.randrange(1, 2000) if r < 0.7 \
                else self.rng.randrange(2000, 70000) if r < 0.97 \
                else self.rng.randrange(70000, 400000)
            self.file(self.rng.choice(dirs) + b"/file%d" % i, size,
                      mode=self.rng.choice((0o644, 0o600, 0o755, 0o640)))

    def mtimes(self):
        """Every object a seeded mtime; directories last, deepest first."""
        seen = set()
        for rel in self.others:
            st = os.lstat(self.p(rel))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            os.utime(self.p(rel), ns=(self.ns(), self.ns()),
                     follow_symlinks=False)
        for rel in sorted(self.dirs, key=lambda d: -d.count(b"/")):
            os.utime(self.p(rel), ns=(self.ns(), self.ns()))
        for rel, mode in self.closed:
            os.chmod(self.p(rel), mode)     # the mtime stays
        t = self.ns()
        os.utime(self.top, ns=(t, t))

    def make(self):
        self.files()
        self.dirs_part()
        self.links()
        self.special()
        self.modes()
        self.owners()
        self.xattrs()
        self.names()
        self.deep()
        self.random_files()
        self.mtimes()


def main():
    ap = argparse.ArgumentParser(description="Make a test tree.")
    ap.add_argument("dir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--files", type=int, default=200,
                    help="extra random files under random/ (default 200)")
    args = ap.parse_args()
    top = os.fsencode(os.path.abspath(args.dir))
    if os.path.lexists(top):
        if not os.path.isdir(top) or os.listdir(top):
            sys.exit("mktree: %s exists and is not an empty directory" % args.dir)
    else:
        os.mkdir(top)
    os.umask(0o022)
    Maker(top, args.seed, args.files).make()
    print("mktree: %s made with seed %d" % (args.dir, args.seed))


if __name__ == "__main__":
    main()
