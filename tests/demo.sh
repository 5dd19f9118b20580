#!/usr/bin/env bash
# The demo: generate a small tree, replicate it once, change it, replicate
# the changes, compare; then the same pair as a session (continuous
# replication): start, change the primary, a checkpoint, status, stop.
set -euo pipefail
cd "$(dirname "$0")/.."
G=$PWD/build/georep
D=${DEMO_DIR:-/tmp/georep-demo}
H=$D/home
rm -rf "$D"
mkdir -p "$D"
echo "== generating a tree in $D/primary"
python3 tests/tools/mktree.py "$D/primary" --seed 1 --files 2000
echo "== first sync: $D/primary -> $D/secondary"
"$G" sync --home "$H" --progress "$D/primary" "$D/secondary"
echo "== changing the primary (renames, writes, deletes, attributes)"
python3 tests/tools/workload.py "$D/primary" --seed 2 --ops 300 >/dev/null
echo "== second sync: only the changes travel"
"$G" sync --home "$H" -v "$D/primary" "$D/secondary" | tail -n 15
echo "== comparing the trees (type, content, mode, owner, mtime, links, xattrs, ACLs)"
python3 tests/tools/treecmp.py "$D/primary" "$D/secondary" && echo "identical"

echo "== a session: continuous replication of $D/primary to $D/replica"
"$G" create --home "$H" demo "$D/primary" "$D/replica"
"$G" start --home "$H" demo
trap '"$G" stop --home "$H" demo >/dev/null 2>&1 || true' EXIT
python3 tests/tools/workload.py "$D/primary" --seed 3 --ops 300 >/dev/null
"$G" checkpoint --home "$H" demo now
deadline=$((SECONDS + 120))
until "$G" status --home "$H" --json demo | python3 -c \
    'import json,sys; sys.exit(not json.load(sys.stdin)["checkpoint"]["completed"])'; do
	if ((SECONDS > deadline)); then
		echo "demo: the checkpoint did not complete within 120 s" >&2
		"$G" status --home "$H" --detail demo >&2
		exit 1
	fi
	sleep 0.1
done
"$G" status --home "$H" demo
"$G" status --home "$H" --detail demo
echo "== some of its metrics (georep status --prometheus; the metrics_listen key serves them over HTTP)"
"$G" status --home "$H" --prometheus demo |
	grep -E '^georep_(lag_seconds|files_synced_total|turns_total|failures)\{|^georep_state\{.*\} 1$'
python3 tests/tools/treecmp.py "$D/primary" "$D/replica" && echo "identical"
"$G" stop --home "$H" demo
