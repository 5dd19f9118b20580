#!/usr/bin/env bash
# The demo: generate a small tree, replicate it, change it, replicate the
# changes, and show that both trees are identical.
set -euo pipefail
cd "$(dirname "$0")/.."
G=$PWD/build/georep
D=${DEMO_DIR:-/tmp/georep-demo}
rm -rf "$D"
mkdir -p "$D"
echo "== generating a tree in $D/primary"
python3 tests/tools/mktree.py "$D/primary" --seed 1 --files 2000
echo "== first sync: $D/primary -> $D/secondary"
"$G" sync --home "$D/home" --progress "$D/primary" "$D/secondary"
echo "== changing the primary (renames, writes, deletes, attributes)"
python3 tests/tools/workload.py "$D/primary" --seed 2 --ops 300 >/dev/null
echo "== second sync: only the changes travel"
"$G" sync --home "$D/home" -v "$D/primary" "$D/secondary" | tail -n 15
echo "== comparing the trees (type, content, mode, owner, mtime, links, xattrs, ACLs)"
python3 tests/tools/treecmp.py "$D/primary" "$D/secondary" && echo "identical"
