#!/usr/bin/env bash
# Crafted frames straight into `georep secondary`: names with '/', '..',
# empty names, absolute paths, a symlink planted in a parent path (before
# the requests, and between two of them), oversized and truncated frames,
# every unknown type byte; the read-only connections of georep verify
# (VLIST, DIGEST, and no request that writes).  Each is refused and nothing
# is written outside DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
scratch=${T:-$(mktemp -d)}
mkdir -p "$scratch/frames"
python3 "$here/frames/hostile.py" "$GEOREP" "$scratch/frames"
