#!/usr/bin/env python3
"""treecmp.py PRIMARY SECONDARY: compare two trees exactly.

Exit 0 when SECONDARY is an exact replica of PRIMARY, 1 (after printing every
difference, one per line, "PATH: what differs") when it is not, 2 on a usage
or I/O error of our own.

Compared, for every path (the roots included, shown as "."):
  - the set of names (SECONDARY's own state ".georep" at its root is ignored),
  - the type, the mode with setuid/setgid/sticky (not for symlinks),
  - uid and gid, mtime to the nanosecond (directories and symlinks too),
  - regular files: content byte for byte; symlinks: target bytes;
    device nodes: the device number,
  - hard-link structure: the names in the tree that share an inode must be
    the same on both sides,
  - extended attributes (not following symlinks), ACLs included; only
    security.selinux is ignored,
  - with --sparse: the holes of a sparse file on PRIMARY (whole blocks,
    found with SEEK_HOLE) must be holes on SECONDARY too.

The walk uses directory file descriptors and names (bytes) only, so names that
are not UTF-8 or hold newlines, and paths longer than PATH_MAX, are fine.

Options:
  --sparse            also check sparseness
  --exclude RELPATH   skip this path (relative to both roots, e.g. "a/b") and
                      everything under it, on both sides (repeatable)
  --no-root-attrs     do not compare the attributes of the two roots
  --max N             stop printing after N differences (default: all)
"""

import argparse
import os
import stat
import sys

IGNORED_XATTRS = {b"security.selinux"}
STATE_DIR = b".georep"
CHUNK = 1 << 20


def show(path):
    """A path as printable text: bytes outside printable ASCII are escaped."""
    out = []
    for c in path:
        if c == 0x5C:
            out.append("\\\\")
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    s = "".join(out)
    return s if s else "."


def kind(mode):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "directory"),
                       (stat.S_ISLNK, "symlink"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISCHR, "char device"),
                       (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "type %o" % stat.S_IFMT(mode)


def is_sparse(st):
    return st.st_blocks * 512 < st.st_size


def data_ranges(fd, size):
    """The [start, end) ranges of data of an open file (SEEK_DATA)."""
    out, off = [], 0
    while off < size:
        try:
            start = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            break           # ENXIO: a hole to the end
        end = os.lseek(fd, start, os.SEEK_HOLE)
        out.append((start, end))
        off = end
    return out


def holes_filled(pfd, sfd, size, block=4096):
    """Bytes of whole blocks that are a hole on the primary and hold data
    on the secondary (the allocated size is no measure: a file system may
    allocate a block for its extent tree, or round differently)."""
    pdata = data_ranges(pfd, size)
    holes, prev = [], 0
    for start, end in pdata + [(size, size)]:
        a = -(-prev // block) * block
        b = start // block * block
        if b > a:
            holes.append((a, b))
        prev = end
    filled = 0
    for start, end in data_ranges(sfd, size):
        for a, b in holes:
            filled += max(0, min(b, end) - max(a, start))
    return filled


class Side:
    def __init__(self, root):
        self.root = os.fsencode(root)
        self.inodes = {}   # (dev, ino) -> [relpath], non-directories only
        self.count = 0


class Cmp:
    def __init__(self, args):
        self.args = args
        self.ndiff = 0
        self.excludes = set(os.fsencode(e).strip(b"/") for e in args.exclude)
        self.p = Side(args.primary)
        self.s = Side(args.secondary)

    def diff(self, path, what):
        self.ndiff += 1
        if self.args.max is None or self.ndiff <= self.args.max:
            sys.stdout.write("%s: %s\n" % (show(path), what))
        elif self.ndiff == self.args.max + 1:
            sys.stdout.write("... (more differences not shown)\n")

    # -- per-object comparisons -------------------------------------------

    def xattrs(self, dirfd, name):
        """{name: value} of an object, named by its directory fd and name."""
        path = b"/proc/self/fd/%d/%s" % (dirfd, name) if name else \
            b"/proc/self/fd/%d" % dirfd
        follow = not name  # the fd itself is the object
        out = {}
        for a in os.listxattr(path, follow_symlinks=follow):
            a = os.fsencode(a)
            if a in IGNORED_XATTRS:
                continue
            try:
                out[a] = os.getxattr(path, a, follow_symlinks=follow)
            except OSError as e:
                out[a] = "<error %s>" % e.strerror
        return out

    def attrs(self, rel, pst, sst, pdir, pname, sdir, sname, root=False):
        """Compare what two objects of the same type carry."""
        if not stat.S_ISLNK(pst.st_mode) and \
                stat.S_IMODE(pst.st_mode) != stat.S_IMODE(sst.st_mode):
            self.diff(rel, "mode %04o != %04o" % (stat.S_IMODE(pst.st_mode),
                                                  stat.S_IMODE(sst.st_mode)))
        if (pst.st_uid, pst.st_gid) != (sst.st_uid, sst.st_gid):
            self.diff(rel, "owner %d:%d != %d:%d" % (
                pst.st_uid, pst.st_gid, sst.st_uid, sst.st_gid))
        if pst.st_mtime_ns != sst.st_mtime_ns:
            self.diff(rel, "mtime %d.%09d != %d.%09d" % (
                pst.st_mtime_ns // 10**9, pst.st_mtime_ns % 10**9,
                sst.st_mtime_ns // 10**9, sst.st_mtime_ns % 10**9))
        try:
            px = self.xattrs(pdir, pname)
            sx = self.xattrs(sdir, sname)
        except OSError as e:
            self.diff(rel, "cannot list xattrs: %s" % e)
            return
        for a in sorted(set(px) | set(sx)):
            if a not in sx:
                self.diff(rel, "xattr %s missing on the secondary" % show(a))
            elif a not in px:
                self.diff(rel, "xattr %s only on the secondary" % show(a))
            elif px[a] != sx[a]:
                self.diff(rel, "xattr %s differs (%r != %r)" % (
                    show(a), px[a][:64], sx[a][:64]))

    def content(self, rel, pdir, name, sdir, pst, sst):
        if pst.st_size != sst.st_size:
            self.diff(rel, "size %d != %d" % (pst.st_size, sst.st_size))
            return
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            pf = os.open(name, flags, dir_fd=pdir)
        except OSError as e:
            self.diff(rel, "cannot open on the primary: %s" % e.strerror)
            return
        try:
            sf = os.open(name, flags, dir_fd=sdir)
        except OSError as e:
            os.close(pf)
            self.diff(rel, "cannot open on the secondary: %s" % e.strerror)
            return
        try:
            filled = 0
            if self.args.sparse and is_sparse(pst):
                filled = holes_filled(pf, sf, pst.st_size)
            off = 0
            while True:
                a = os.read(pf, CHUNK)
                b = os.read(sf, CHUNK)
                if a != b:
                    n = min(len(a), len(b))
                    i = next((i for i in range(n) if a[i] != b[i]), n)
                    self.diff(rel, "content differs from byte %d" % (off + i))
                    return
                if not a:
                    break
                off += len(a)
        finally:
            os.close(pf)
            os.close(sf)
        if filled:
            self.diff(rel, "%d bytes of the primary's holes hold data on the "
                      "secondary (allocated: %d on the primary, %d on the "
                      "secondary)" % (filled, pst.st_blocks * 512,
                                      sst.st_blocks * 512))

    def obj(self, rel, pdir, sdir, name, pst, sst):
        """Two entries named NAME in PDIR and SDIR."""
        pk, sk = kind(pst.st_mode), kind(sst.st_mode)
        if pk != sk:
            self.diff(rel, "%s on the primary, %s on the secondary" % (pk, sk))
            self.note_inode(rel, pst, sst)
            return
        if stat.S_ISDIR(pst.st_mode):
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                pfd = os.open(name, flags, dir_fd=pdir)
            except OSError as e:
                self.diff(rel, "cannot open on the primary: %s" % e.strerror)
                return
            try:
                sfd = os.open(name, flags, dir_fd=sdir)
            except OSError as e:
                os.close(pfd)
                self.diff(rel, "cannot open on the secondary: %s" % e.strerror)
                return
            try:
                self.attrs(rel, pst, sst, pfd, None, sfd, None)
                self.walk(rel, pfd, sfd)
            finally:
                os.close(pfd)
                os.close(sfd)
            return
        self.note_inode(rel, pst, sst)
        self.attrs(rel, pst, sst, pdir, name, sdir, name)
        if stat.S_ISREG(pst.st_mode):
            self.content(rel, pdir, name, sdir, pst, sst)
        elif stat.S_ISLNK(pst.st_mode):
            pt = os.readlink(name, dir_fd=pdir)
            st = os.readlink(name, dir_fd=sdir)
            if pt != st:
                self.diff(rel, "symlink target %s != %s" % (show(pt), show(st)))
        elif stat.S_ISCHR(pst.st_mode) or stat.S_ISBLK(pst.st_mode):
            if pst.st_rdev != sst.st_rdev:
                self.diff(rel, "device %d,%d != %d,%d" % (
                    os.major(pst.st_rdev), os.minor(pst.st_rdev),
                    os.major(sst.st_rdev), os.minor(sst.st_rdev)))

    def note_inode(self, rel, pst, sst):
        for side, st in ((self.p, pst), (self.s, sst)):
            if st is not None and not stat.S_ISDIR(st.st_mode):
                side.inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)

    def count_tree(self, dirfd, name):
        """Number of entries below a directory (for "only on" messages)."""
        n = 0
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                         dir_fd=dirfd)
        except OSError:
            return 0
        try:
            for e in os.scandir(fd):
                n += 1
                if e.is_dir(follow_symlinks=False):
                    n += self.count_tree(fd, os.fsencode(e.name))
        finally:
            os.close(fd)
        return n

    def only(self, rel, dirfd, name, st, where):
        what = kind(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            what += " with %d entries below" % self.count_tree(dirfd, name)
        self.diff(rel, "only on the %s (%s)" % (where, what))

    def walk(self, rel, pfd, sfd):
        pnames = set(os.fsencode(n) for n in os.listdir(pfd))
        snames = set(os.fsencode(n) for n in os.listdir(sfd))
        if not rel:
            snames.discard(STATE_DIR)
        for name in sorted(pnames | snames):
            sub = rel + b"/" + name if rel else name
            if sub in self.excludes:
                continue
            pst = sst = None
            if name in pnames:
                pst = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            if name in snames:
                sst = os.stat(name, dir_fd=sfd, follow_symlinks=False)
            if pst is None:
                self.only(sub, sfd, name, sst, "secondary")
                self.note_inode(sub, None, sst)
            elif sst is None:
                self.only(sub, pfd, name, pst, "primary")
                self.note_inode(sub, pst, None)
            else:
                self.obj(sub, pfd, sfd, name, pst, sst)

    def links(self):
        """The names sharing an inode must be the same on both sides."""
        def groups(side):
            g = {}
            for paths in side.inodes.values():
                fs = frozenset(paths)
                for p in paths:
                    g[p] = fs
            return g
        pg, sg = groups(self.p), groups(self.s)
        seen = set()
        # Restrict to the names present on both sides: a name missing on
        # one side is already reported.
        both = set(pg) & set(sg)
        for path in sorted(both):
            a, b = pg[path], sg[path]
            a2, b2 = a & both, b & both
            if a2 != b2 and (a2, b2) not in seen:
                seen.add((a2, b2))
                self.diff(path, "hard links differ: on the primary %s, on the "
                          "secondary %s" % (
                              "{" + ", ".join(show(x) for x in sorted(a2)) + "}",
                              "{" + ", ".join(show(x) for x in sorted(b2)) + "}"))

    def run(self):
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
        pfd = os.open(self.p.root, flags)
        sfd = os.open(self.s.root, flags)
        try:
            if not self.args.no_root_attrs:
                self.attrs(b"", os.fstat(pfd), os.fstat(sfd), pfd, None, sfd,
                           None)
            self.walk(b"", pfd, sfd)
        finally:
            os.close(pfd)
            os.close(sfd)
        self.links()
        return self.ndiff


def main():
    ap = argparse.ArgumentParser(
        description="Compare two trees exactly (see the module docstring).")
    ap.add_argument("primary")
    ap.add_argument("secondary")
    ap.add_argument("--sparse", action="store_true")
    ap.add_argument("--exclude", action="append", default=[])
    ap.add_argument("--no-root-attrs", action="store_true")
    ap.add_argument("--max", type=int, default=None)
    args = ap.parse_args()
    sys.setrecursionlimit(100000)
    try:
        n = Cmp(args).run()
    except OSError as e:
        print("treecmp: %s" % e, file=sys.stderr)
        return 2
    if n:
        print("treecmp: %d difference(s) between %s and %s" % (
            n, args.primary, args.secondary), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
