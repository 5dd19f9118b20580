#!/usr/bin/env python3
"""workload.py DIR --seed N --ops N: apply a seeded random mix of changes to
an existing tree.

The same seed on the same tree gives the same changes.  Operations: create,
write in the middle, append, truncate (grow and shrink), rewrite with the same
size and mtime (only ctime moves), rename files and directories (within and
across directories, into a directory made just before, swaps through a
temporary name), hard links, symlinks, fifos, device nodes (root), chmod,
chown (root), set/remove xattrs, touch, delete files and whole trees, replace
a file by a directory or a symlink of the same name and the reverse.

".georep" at the top of DIR is never touched.  Paths near PATH_MAX are left
alone (they can still move with a directory above them).  Prints the seed, and
a count per operation at the end.
"""

import argparse
import collections
import os
import random
import shutil
import stat
import struct
import sys

ROOT = os.geteuid() == 0
MAX_PATH = 3000         # leave paths longer than this alone
STATE_DIR = b".georep"


def acl_xattr(entries):
    """A system.posix_acl_* value: entries are (tag, perm, id)."""
    out = struct.pack("<I", 2)
    for tag, perm, ident in sorted(entries, key=lambda e: (e[0], e[2])):
        out += struct.pack("<HHI", tag, perm, ident)
    return out


class Workload:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.counts = collections.Counter()
        self.serial = 0

    # -- picking ---------------------------------------------------------

    def listdir(self, d):
        try:
            names = sorted(os.listdir(d))
        except OSError:
            return []
        if d == b".":
            names = [n for n in names if n != STATE_DIR]
        return names

    def walk_pick(self, want):
        """A random path reached by a random walk from the top.  want:
        'dir', 'nondir', 'file' (regular), 'any'."""
        for _ in range(20):
            cur = b"."
            depth = 0
            while True:
                names = self.listdir(cur)
                if not names:
                    break
                name = self.rng.choice(names)
                path = name if cur == b"." else cur + b"/" + name
                if len(path) > MAX_PATH:
                    break
                try:
                    st = os.lstat(path)
                except OSError:
                    break
                if stat.S_ISDIR(st.st_mode):
                    # Go down, or stop here.
                    if want in ("dir", "any") and self.rng.random() < 0.3:
                        return path
                    cur = path
                    depth += 1
                    continue
                if want == "nondir" or want == "any" or \
                        (want == "file" and stat.S_ISREG(st.st_mode)):
                    return path
                # A file when we want a directory: maybe take the one we're in.
                break
            if want == "dir":
                return cur
        return b"." if want == "dir" else None

    def newname(self, d, prefix=b"w"):
        self.serial += 1
        odd = self.rng.random()
        if odd < 0.05:
            name = b"%s%d \xff\xfe" % (prefix, self.serial)
        elif odd < 0.08:
            name = b"%s%d\nnl" % (prefix, self.serial)
        else:
            name = b"%s%d_%d" % (prefix, self.serial, self.rng.randrange(10**6))
        return name if d == b"." else d + b"/" + name

    def size(self):
        r = self.rng.random()
        return 0 if r < 0.05 else self.rng.randrange(1, 3000) if r < 0.75 \
            else self.rng.randrange(3000, 100_000) if r < 0.98 \
            else self.rng.randrange(100_000, 1_500_000)

    def data(self, n):
        return self.rng.randbytes(n)

    def mtime(self):
        return 1_400_000_000 * 10**9 + self.rng.randrange(10**18)

    # -- operations --------------------------------------------------------
    # Each returns True when it did something.

    def op_create(self):
        d = self.walk_pick("dir")
        path = self.newname(d)
        with open(path, "xb") as f:
            f.write(self.data(self.size()))
        return True

    def op_write(self):
        path = self.walk_pick("file")
        if path is None:
            return False
        size = os.stat(path).st_size
        fd = os.open(path, os.O_WRONLY)
        try:
            off = self.rng.randrange(size + 1)
            os.pwrite(fd, self.data(self.rng.randrange(1, 5000)), off)
        finally:
            os.close(fd)
        return True

    def op_append(self):
        path = self.walk_pick("file")
        if path is None:
            return False
        with open(path, "ab") as f:
            f.write(self.data(self.rng.randrange(1, 20000)))
        return True

    def op_truncate(self):
        path = self.walk_pick("file")
        if path is None:
            return False
        size = os.stat(path).st_size
        if self.rng.random() < 0.5:
            new = self.rng.randrange(size + 1)
        else:
            new = size + self.rng.randrange(1, 3 << 20)   # grows with a hole
        os.truncate(path, new)
        return True

    def op_same_size_mtime(self):
        """New bytes, same size, mtime put back: only ctime tells."""
        path = self.walk_pick("file")
        if path is None:
            return False
        st = os.stat(path)
        if st.st_size == 0:
            return False
        fd = os.open(path, os.O_RDWR)
        try:
            off = self.rng.randrange(st.st_size)
            n = min(st.st_size - off, self.rng.randrange(1, 100))
            old = os.pread(fd, n, off)
            # Every byte changes: XOR with a non-zero value.
            os.pwrite(fd, bytes(b ^ (self.rng.randrange(255) + 1)
                                for b in old), off)
        finally:
            os.close(fd)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        return True

    def op_touch(self):
        path = self.walk_pick("any")
        if path is None or path == b".":
            return False
        t = self.mtime()
        os.utime(path, ns=(t, t), follow_symlinks=False)
        return True

    def op_rename_file(self):
        src = self.walk_pick("nondir")
        if src is None:
            return False
        d = self.walk_pick("dir") if self.rng.random() < 0.5 \
            else (os.path.dirname(src) or b".")
        if self.rng.random() < 0.2:
            # Over an existing non-directory (replaces it).
            dst = self.walk_pick("nondir")
            if dst is None or dst == src:
                return False
        else:
            dst = self.newname(d, b"mv")
        os.rename(src, dst)
        return True

    def op_rename_dir(self):
        src = self.walk_pick("dir")
        if src == b".":
            return False
        d = self.walk_pick("dir")
        if d == src or d.startswith(src + b"/"):
            return False
        os.rename(src, self.newname(d, b"dmv"))
        return True

    def op_rename_into_new_dir(self):
        src = self.walk_pick("any")
        if src is None or src == b".":
            return False
        d = self.newname(self.walk_pick("dir"), b"nd")
        if d.startswith(src + b"/"):
            return False
        os.mkdir(d)
        os.rename(src, d + b"/" + os.path.basename(src))
        return True

    def op_swap(self):
        a = self.walk_pick("any")
        b = self.walk_pick("any")
        if a is None or b is None or a == b or b"." in (a, b) or \
                a.startswith(b + b"/") or b.startswith(a + b"/"):
            return False
        tmp = self.newname(os.path.dirname(a) or b".", b"swap")
        os.rename(a, tmp)
        os.rename(b, a)
        os.rename(tmp, b)
        return True

    def op_hardlink(self):
        src = self.walk_pick("file")
        if src is None:
            return False
        os.link(src, self.newname(self.walk_pick("dir"), b"hl"))
        return True

    def op_symlink(self):
        target = self.rng.choice([b"../" * self.rng.randrange(3) + b"x",
                                  b"/abs/target", b"dangling",
                                  self.walk_pick("any") or b"nothing"])
        os.symlink(target, self.newname(self.walk_pick("dir"), b"sl"))
        return True

    def op_mkfifo(self):
        os.mkfifo(self.newname(self.walk_pick("dir"), b"fifo"), 0o644)
        return True

    def op_mknod(self):
        if not ROOT:
            return False
        kind = self.rng.choice((stat.S_IFCHR, stat.S_IFBLK))
        os.mknod(self.newname(self.walk_pick("dir"), b"dev"), kind | 0o600,
                 os.makedev(self.rng.randrange(1, 300),
                            self.rng.randrange(0, 3000)))
        return True

    def op_mkdir(self):
        d = self.newname(self.walk_pick("dir"), b"dir")
        os.mkdir(d, self.rng.choice((0o755, 0o700, 0o2775, 0o1777)))
        for i in range(self.rng.randrange(4)):
            with open(d + b"/f%d" % i, "wb") as f:
                f.write(self.data(self.size()))
        return True

    def op_chmod(self):
        path = self.walk_pick("any")
        if path is None or os.path.islink(path):
            return False
        if os.path.isdir(path):
            mode = self.rng.choice((0o755, 0o700, 0o555, 0o1777, 0o2755, 0o000))
        else:
            mode = self.rng.choice((0o644, 0o600, 0o755, 0o4755, 0o2755,
                                    0o1644, 0o000, 0o444, 0o7777))
        os.chmod(path, mode)
        return True

    def op_chown(self):
        if not ROOT:
            return False
        path = self.walk_pick("any")
        if path is None:
            return False
        os.chown(path, self.rng.choice((0, 1234, 4321, 65534)),
                 self.rng.choice((0, 5678, 65534)), follow_symlinks=False)
        return True

    def xattr_target(self):
        path = self.walk_pick("any")
        if path is None:
            return None, None
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
            ns = (b"user.", b"trusted.") if ROOT else (b"user.",)
        else:
            ns = (b"trusted.",) if ROOT else ()
        return path, ns

    def op_setxattr(self):
        path, ns = self.xattr_target()
        if not ns:
            return False
        name = self.rng.choice(ns) + b"k%d" % self.rng.randrange(5)
        os.setxattr(path, name, self.data(self.rng.randrange(0, 200)),
                    follow_symlinks=False)
        return True

    def op_removexattr(self):
        path, ns = self.xattr_target()
        if path is None:
            return False
        names = [n for n in os.listxattr(path, follow_symlinks=False)
                 if n.startswith(("user.", "trusted."))]
        if not names:
            return False
        os.removexattr(path, self.rng.choice(sorted(names)),
                       follow_symlinks=False)
        return True

    def op_acl(self):
        path = self.walk_pick("any")
        if path is None or os.path.islink(path) or \
                not (os.path.isfile(path) or os.path.isdir(path)):
            return False
        if self.rng.random() < 0.3:
            try:
                os.removexattr(path, b"system.posix_acl_access")
            except OSError:
                return False
            return True
        uid = self.rng.choice((1234, 4321))
        acl = acl_xattr([(0x01, 6, 0xFFFFFFFF), (0x02, self.rng.randrange(8), uid),
                         (0x04, 4, 0xFFFFFFFF), (0x10, 7, 0xFFFFFFFF),
                         (0x20, self.rng.randrange(8), 0xFFFFFFFF)])
        os.setxattr(path, b"system.posix_acl_access", acl)
        if os.path.isdir(path) and self.rng.random() < 0.5:
            os.setxattr(path, b"system.posix_acl_default",
                        acl_xattr([(0x01, 7, 0xFFFFFFFF), (0x04, 5, 0xFFFFFFFF),
                                   (0x20, 0, 0xFFFFFFFF)]))
        return True

    def op_delete_file(self):
        path = self.walk_pick("nondir")
        if path is None:
            return False
        os.unlink(path)
        return True

    def op_delete_tree(self):
        path = self.walk_pick("dir")
        if path == b".":
            return False
        shutil.rmtree(path)
        return True

    def op_file_to_dir(self):
        path = self.walk_pick("nondir")
        if path is None:
            return False
        os.unlink(path)
        os.mkdir(path)
        with open(path + b"/was_a_file", "wb") as f:
            f.write(self.data(self.size()))
        return True

    def op_file_to_symlink(self):
        path = self.walk_pick("nondir")
        if path is None:
            return False
        os.unlink(path)
        os.symlink(b"replaced/" + os.path.basename(path), path)
        return True

    def op_dir_to_file(self):
        path = self.walk_pick("dir")
        if path == b".":
            return False
        shutil.rmtree(path)
        with open(path, "wb") as f:
            f.write(self.data(self.size()))
        return True

    def op_dir_to_symlink(self):
        path = self.walk_pick("dir")
        if path == b".":
            return False
        shutil.rmtree(path)
        os.symlink(b"was/a/dir", path)
        return True

    def op_symlink_to_file(self):
        path = self.walk_pick("nondir")
        if path is None or not os.path.islink(path):
            return False
        os.unlink(path)
        with open(path, "wb") as f:
            f.write(self.data(self.size()))
        return True

    OPS = [  # (weight, name)
        (14, "create"), (10, "write"), (6, "append"), (5, "truncate"),
        (4, "same_size_mtime"), (4, "touch"), (8, "rename_file"),
        (3, "rename_dir"), (2, "rename_into_new_dir"), (3, "swap"),
        (4, "hardlink"), (3, "symlink"), (1, "mkfifo"), (1, "mknod"),
        (5, "mkdir"), (5, "chmod"), (4, "chown"), (4, "setxattr"),
        (2, "removexattr"), (2, "acl"), (6, "delete_file"),
        (0.5, "delete_tree"), (2, "file_to_dir"), (2, "file_to_symlink"),
        (1, "dir_to_file"), (1, "dir_to_symlink"), (2, "symlink_to_file"),
    ]

    def run(self, nops):
        weights = [w for w, _ in self.OPS]
        names = [n for _, n in self.OPS]
        done = 0
        for _ in range(nops):
            name = self.rng.choices(names, weights)[0]
            try:
                ok = getattr(self, "op_" + name)()
            except OSError:
                ok = False
            self.counts[name if ok else "skipped"] += 1
            done += ok
        return done


def main():
    ap = argparse.ArgumentParser(description="Random changes to a tree.")
    ap.add_argument("dir")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--ops", type=int, default=1000)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print("workload: seed %d, %d ops on %s" % (seed, args.ops, args.dir),
          flush=True)
    os.chdir(args.dir)
    os.umask(0o022)
    w = Workload(seed)
    done = w.run(args.ops)
    print("workload: %d done: %s" % (done, ", ".join(
        "%s %d" % kv for kv in sorted(w.counts.items()))))


if __name__ == "__main__":
    main()
