#!/usr/bin/env python3
"""Helpers of bench/suite.sh (the scenarios of issue 18).

Datasets are deterministic: every byte and every mtime follows from a seed,
so two machines (or two runs) build the same trees.

  small DIR N SIZE PER_DIR SEED
      N files of SIZE bytes, PER_DIR per directory: DIR/d0000/f000000 ...;
      file i holds Random(SEED * 10**7 + i) bytes; every mtime is EPOCH
  mixed DIR SMALL BIG BIG_MIB DEPTH SYMLINKS HARDLINKS SEED
      SMALL small files (0-16 KiB, 100 per directory), BIG files of BIG_MIB
      MiB, a chain of DEPTH directories (a file at each level), SYMLINKS
      symlinks (to files, to directories, a few dangling), HARDLINKS extra
      names of small files (pairs and triples)
  big FILE MIB SEED
      one file of MIB MiB: MiB k holds Random(SEED * 10**6 + k) bytes
  patch FILE PLACES PERMILLE SEED a|b
      rewrite PERMILLE/1000 of FILE in PLACES places, one in each of PLACES
      equal slices (offsets from SEED): b writes new bytes there, a writes
      back the bytes of 'big' (the file as generated)
  mutate SRC N SIZE PER_DIR SEED ROUND MODIFY CREATE DELETE TOUCHED
      in a tree made by 'small': rewrite MODIFY files, create CREATE new
      ones (d*/nROUND_k), delete DELETE (all chosen from ROUND, never a file
      deleted before); appends what it touched to TOUCHED; prints the time
      (epoch seconds) just before the first change
  restore SRC N SIZE PER_DIR SEED TOUCHED
      undo every mutate listed in TOUCHED (the tree is as 'small' made it)
  rss OUT ROLES (--pid PID [--stop-file F] | -- COMMAND...)
      sample /proc/P/status of PID (or of COMMAND, started here) and of all
      its descendants every 50 ms until it ends (or F exists); ROLES names
      the depths (e.g. primary,secondary); writes to OUT one line per role
      and per figure: role, VmRSS/RssAnon/RssFile peak in kB (the peak of
      each figure over the role's processes), and "tree" (the peak of the
      sum over all processes at one sample); exits with COMMAND's status
  wire COUNTS COMMAND...
      run COMMAND (an ssh client) with its stdin and stdout relayed through
      this process, counting the bytes each way; appends "sent N" (to the
      far side) and "recv M" to COUNTS at the end; exits with its status
"""
import os
import random
import subprocess
import sys
import threading
import time

EPOCH = 1767225600          # 2026-01-01T00:00:00Z: every generated mtime
MIB = 1 << 20


def small_name(i, per_dir):
    return "d%04d/f%06d" % (i // per_dir, i)


def small_content(seed, i, size):
    return random.Random(seed * 10**7 + i).randbytes(size)


def write_file(path, data, mtime=EPOCH):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.utime(path, (mtime, mtime))


def fix_dir_times(root):
    for dirpath, _dirs, _files in os.walk(root, topdown=False):
        os.utime(dirpath, (EPOCH, EPOCH), follow_symlinks=False)


def cmd_small(d, n, size, per_dir, seed):
    n, size, per_dir, seed = int(n), int(size), int(per_dir), int(seed)
    for i in range(n):
        if i % per_dir == 0:
            os.makedirs(os.path.join(d, "d%04d" % (i // per_dir)))
        write_file(os.path.join(d, small_name(i, per_dir)),
                   small_content(seed, i, size))
    fix_dir_times(d)


def cmd_mixed(d, small, big, big_mib, depth, symlinks, hardlinks, seed):
    small, big, big_mib, depth, symlinks, hardlinks, seed = map(
        int, (small, big, big_mib, depth, symlinks, hardlinks, seed))
    rnd = random.Random(seed)
    names = []
    for i in range(small):
        if i % 100 == 0:
            os.makedirs(os.path.join(d, "small/d%04d" % (i // 100)))
        # mostly small: a quarter empty-to-1 KiB, the rest up to 16 KiB
        size = rnd.randrange(1024) if rnd.random() < 0.25 else rnd.randrange(16385)
        name = "small/d%04d/f%05d" % (i // 100, i)
        write_file(os.path.join(d, name), rnd.randbytes(size))
        names.append(name)
    os.makedirs(os.path.join(d, "big"))
    for b in range(big):
        path = os.path.join(d, "big/b%02d" % b)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        brnd = random.Random(seed * 1000 + b)
        for _ in range(big_mib):
            os.write(fd, brnd.randbytes(MIB))
        os.close(fd)
        os.utime(path, (EPOCH, EPOCH))
    p = os.path.join(d, "deep")
    for level in range(1, depth + 1):
        p = os.path.join(p, "l%02d" % level)
        os.makedirs(p)
        write_file(os.path.join(p, "file"), rnd.randbytes(100))
    os.makedirs(os.path.join(d, "links"))
    for k in range(symlinks):
        r = rnd.random()
        if r < 0.8 and names:
            target = "../" + rnd.choice(names)           # a file
        elif r < 0.95:
            target = "../small/d%04d" % rnd.randrange(max(1, small // 100))
        else:
            target = "../nowhere/%d" % k                 # dangling
        os.symlink(target, os.path.join(d, "links/s%05d" % k))
    os.makedirs(os.path.join(d, "hard"))
    k = 0
    while k < hardlinks and names:
        name = rnd.choice(names)
        for _ in range(min(rnd.choice((1, 1, 2)), hardlinks - k)):
            os.link(os.path.join(d, name), os.path.join(d, "hard/h%05d" % k))
            k += 1
    for link in os.listdir(os.path.join(d, "links")):
        os.utime(os.path.join(d, "links", link), (EPOCH, EPOCH),
                 follow_symlinks=False)
    fix_dir_times(d)


def big_chunk(seed, k):
    return random.Random(seed * 10**6 + k).randbytes(MIB)


def cmd_big(path, mib, seed):
    mib, seed = int(mib), int(seed)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for k in range(mib):
        os.write(fd, big_chunk(seed, k))
    os.close(fd)
    os.utime(path, (EPOCH, EPOCH))


def cmd_patch(path, places, permille, seed, state):
    places, permille, seed = int(places), int(permille), int(seed)
    size = os.path.getsize(path)
    length = size * permille // 1000 // places
    slot = size // places
    rnd = random.Random(seed + 1)
    fd = os.open(path, os.O_WRONLY)
    for p in range(places):
        off = p * slot + rnd.randrange(slot - length + 1)
        if state == "b":
            data = rnd.randbytes(length)
        else:
            rnd.randbytes(length)       # the same sequence of offsets
            first, last = off // MIB, (off + length - 1) // MIB
            data = b"".join(big_chunk(seed, k) for k in range(first, last + 1))
            data = data[off - first * MIB:off - first * MIB + length]
        os.pwrite(fd, data, off)
    os.close(fd)


def deleted_before(touched):
    gone = set()
    if os.path.exists(touched):
        with open(touched) as f:
            for line in f:
                kind, name = line.split()
                if kind == "delete":
                    gone.add(name)
    return gone


def cmd_mutate(src, n, size, per_dir, seed, rnd_round, modify, create, delete,
               touched):
    n, size, per_dir, seed, rnd_round, modify, create, delete = map(
        int, (n, size, per_dir, seed, rnd_round, modify, create, delete))
    gone = deleted_before(touched)
    rnd = random.Random(seed * 1000 + rnd_round)
    picked = []
    seen = set()
    while len(picked) < modify + delete:
        i = rnd.randrange(n)
        name = small_name(i, per_dir)
        if i in seen or name in gone:
            continue
        seen.add(i)
        picked.append(name)
    new = ["d%04d/n%d_%d" % (rnd.randrange((n + per_dir - 1) // per_dir),
                             rnd_round, k) for k in range(create)]
    contents = [rnd.randbytes(size) for _ in range(modify + create)]
    log = open(touched, "a")
    for name in picked[:modify]:
        log.write("modify %s\n" % name)
    for name in picked[modify:]:
        log.write("delete %s\n" % name)
    for name in new:
        log.write("create %s\n" % name)
    log.close()
    t0 = time.time()
    for name, data in zip(picked[:modify], contents):
        fd = os.open(os.path.join(src, name), os.O_WRONLY)
        os.pwrite(fd, data, 0)
        os.close(fd)
    for name, data in zip(new, contents[modify:]):
        fd = os.open(os.path.join(src, name), os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, data)
        os.close(fd)
    for name in picked[modify:]:
        os.unlink(os.path.join(src, name))
    print("%.6f" % t0)


def cmd_restore(src, n, size, per_dir, seed, touched):
    n, size, per_dir, seed = map(int, (n, size, per_dir, seed))
    if not os.path.exists(touched):
        return
    with open(touched) as f:
        for line in f:
            kind, name = line.split()
            path = os.path.join(src, name)
            if kind == "create":
                if os.path.lexists(path):
                    os.unlink(path)
            else:
                i = int(name.rsplit("/f", 1)[1])
                write_file(path, small_content(seed, i, size))
    for k in range((n + per_dir - 1) // per_dir):
        os.utime(os.path.join(src, "d%04d" % k), (EPOCH, EPOCH))
    os.utime(src, (EPOCH, EPOCH))
    os.unlink(touched)


# ----------------------------------------------------------------- rss
FIELDS = ("VmRSS", "RssAnon", "RssFile")


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def status(pid):
    got = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                key, _, val = line.partition(":")
                if key in FIELDS:
                    got[key] = int(val.split()[0])
    except OSError:
        return None
    return got if len(got) == len(FIELDS) else None    # None: a zombie


def cmd_rss(out, roles, *args):
    roles = roles.split(",")
    proc = None
    stop_file = None
    if args[0] == "--pid":
        root = int(args[1])
        if len(args) > 3 and args[2] == "--stop-file":
            stop_file = args[3]
    elif args[0] == "--":
        proc = subprocess.Popen(args[1:])
        root = proc.pid
    else:
        sys.exit("rss: --pid PID or -- COMMAND")
    peak = {}                   # (role, field) -> kB
    tree = dict.fromkeys(FIELDS, 0)
    samples = 0
    while True:
        sums = dict.fromkeys(FIELDS, 0)
        todo = [(root, 0)]
        alive = False
        while todo:
            pid, depth = todo.pop()
            st = status(pid)
            if st is not None:
                alive = True
                role = roles[min(depth, len(roles) - 1)]
                for k in FIELDS:
                    sums[k] += st[k]
                    peak[role, k] = max(peak.get((role, k), 0), st[k])
            todo += [(c, depth + 1) for c in children(pid)]
        if alive:
            samples += 1
        for k in FIELDS:
            tree[k] = max(tree[k], sums[k])
        if proc is not None and proc.poll() is not None:
            break
        if proc is None and (not alive or
                             (stop_file and os.path.exists(stop_file))):
            break
        time.sleep(0.05)
    with open(out, "w") as f:
        for role in roles:
            for k in FIELDS:
                f.write("%s\t%s\t%d\n" % (role, k, peak.get((role, k), 0)))
        for k in FIELDS:
            f.write("tree\t%s\t%d\n" % (k, tree[k]))
        f.write("samples\tn\t%d\n" % samples)
    if proc is not None:
        sys.exit(proc.returncode)


# ----------------------------------------------------------------- wire
def relay(src, dst, counts, key, close_dst):
    n = 0
    counts[key] = 0
    try:
        while True:
            data = os.read(src, 1 << 18)
            if not data:
                break
            n += len(data)
            counts[key] = n
            view = memoryview(data)
            while view:
                w = os.write(dst, view)
                view = view[w:]
    except OSError:
        pass
    if close_dst:
        try:
            os.close(dst)
        except OSError:
            pass


def cmd_wire(counts_file, *cmd):
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    counts = {}
    up = threading.Thread(target=relay, daemon=True,
                          args=(0, proc.stdin.fileno(), counts, "sent", True))
    down = threading.Thread(target=relay,
                            args=(proc.stdout.fileno(), 1, counts, "recv", False))
    up.start()
    down.start()
    down.join()                 # the far side is done when its output ends
    rc = proc.wait()
    up.join(timeout=1)          # our stdin may stay open: the count so far
    with open(counts_file, "a") as f:
        f.write("sent %d\nrecv %d\n" % (counts["sent"], counts["recv"]))
    sys.stdout.flush()
    os._exit(rc)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"small": cmd_small, "mixed": cmd_mixed, "big": cmd_big,
          "patch": cmd_patch, "mutate": cmd_mutate, "restore": cmd_restore,
          "rss": cmd_rss, "wire": cmd_wire}.get(cmd)
    if fn is None:
        sys.exit("benchtool: unknown command %s\n%s" % (cmd, __doc__))
    fn(*args)


if __name__ == "__main__":
    main()
