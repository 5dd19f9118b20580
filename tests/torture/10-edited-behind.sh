#!/usr/bin/env bash
# Torture 10: the secondary edited behind georep's back, at random places
# (short: 8 edits; full: 40 per round, three rounds): a file's content
# changed with its size and mtime kept, a file added, a file removed, a
# mode changed, an xattr set.  `georep verify NAME` must name exactly the
# paths edited (no more, no fewer), `verify --repair` has the session fix
# exactly those (every file not edited keeps its inode), and a verify
# after a checkpoint finds nothing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROUNDS=$(scale 1 3) EDITS=$(scale 8 40)
P=$T/p S=$T/s
mkdir -p "$P"
"$FSSTRESS" "$P" --seed "$SEED" --ops 3000 \
    >"$T/seed-tree.log" 2>&1
session_up inotify
n=0
for ((r = 1; r <= ROUNDS; r++)); do
	"$PY" - "$S" "$EDITS" "$((SEED + r))" "$T/edited" <<-'PYEOF'
		import os, random, stat, sys
		root, n, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
		rnd = random.Random(seed)
		files, dirs = [], []
		for d, ds, fs in os.walk(root):
		    if d == root and ".georep" in ds:
		        ds.remove(".georep")
		    rel = os.path.relpath(d, root)
		    # Names the test can match in verify's JSON as they are:
		    # printable UTF-8 (fsstress makes others too).
		    if not rel.isprintable():
		        continue
		    dirs.append("" if rel == "." else rel)
		    for f in fs:
		        p = os.path.join(d, f)
		        st = os.lstat(p)
		        if (stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and
		                f.isprintable()):
		            files.append(os.path.relpath(p, root))
		rnd.shuffle(files)
		edited = set()
		for i in range(n):
		    kind = rnd.choice(["content", "add", "remove", "mode", "xattr"])
		    if kind == "add":
		        d = rnd.choice(dirs)
		        p = os.path.join(d, "behind-%d-%d" % (seed, i))
		        with open(os.path.join(root, p), "w") as f:
		            f.write("added behind georep's back\n")
		        edited.add(p)
		        continue
		    while files and files[-1] in edited:
		        files.pop()
		    if not files:
		        break
		    p = files.pop()
		    full = os.path.join(root, p)
		    st = os.lstat(full)
		    if kind == "content" and st.st_size > 0:
		        with open(full, "r+b") as f:
		            b = f.read(1)
		            f.seek(0)
		            f.write(bytes([b[0] ^ 0x5a]))
		        os.utime(full, ns=(st.st_atime_ns, st.st_mtime_ns))
		    elif kind == "remove":
		        os.unlink(full)
		    elif kind == "mode":
		        os.chmod(full, (st.st_mode & 0o7777) ^ 0o040)
		    else:
		        os.setxattr(full, "user.behind", b"%d" % i)
		    edited.add(p)
		with open(out, "w") as f:
		    f.write("\n".join(sorted(edited)) + "\n")
	PYEOF
	n=$((n + $(wc -l <"$T/edited")))
	OPS=$((OPS + $(wc -l <"$T/edited")))
	run G verify --json "$sess"
	[[ $RC == 1 ]] || fail "verify exited $RC after the edits, not 1: $(tail -3 "$T/out")"
	"$PY" - "$T/out" "$T/edited" <<-'PYEOF' || check_failed "verify did not name exactly the paths edited"
		import json, sys
		found = set()
		for l in open(sys.argv[1]):
		    d = json.loads(l)
		    if "path" in d:
		        found.add(d["path"])
		edited = set(l.strip() for l in open(sys.argv[2]) if l.strip())
		# An added or removed name also changes its directory's mtime.
		dirs = {p.rpartition("/")[0] or "." for p in edited}
		extra = {p for p in found - edited if p not in dirs}
		missed = edited - found
		for p in sorted(missed): print("not found: %s" % p)
		for p in sorted(extra): print("named but not edited: %s" % p)
		sys.exit(1 if missed or extra else 0)
	PYEOF
	# Inodes of files not edited, before the repair.
	(cd "$S" && find . -path ./.georep -prune -o -type f -printf '%P %i\n' |
		sort) >"$T/inodes.before"
	t0=$(fault_time)
	expect_rc 1 G verify --repair "$sess"
	fault_converged "$t0" 120
	echo "  round $r: $(wc -l <"$T/edited") edits repaired in ${CONVERGE[-1]} s" >&2
	expect_rc 0 G verify "$sess"
	(cd "$S" && find . -path ./.georep -prune -o -type f -printf '%P %i\n' |
		sort) >"$T/inodes.after"
	changed=$(join -v1 "$T/inodes.before" "$T/inodes.after" | awk '{ print $1 }' |
		grep -vxF -f "$T/edited" | head -5 || true)
	[[ -z $changed ]] || check_failed "files not edited were sent again: $changed"
done
final_verify
result faults="$n edits of the secondary behind georep's back"
