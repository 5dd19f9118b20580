#!/usr/bin/env bash
# A short libFuzzer run of both fuzz targets (tests/fuzz/run.sh; `make fuzz`
# runs them longer): the secondary's request handling and the frame parser,
# then the primary's handling of the secondary's replies, FUZZ_SECONDS (10)
# each.  Under `make asan` the normal suite already ran it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[[ -z ${GEOREP_ASAN:-} ]] || skip "ran in the plain suite"
command -v clang >/dev/null || skip "clang is not installed"
here=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ_SECONDS=${FUZZ_SECONDS:-10} FUZZ_BUILD=$T/fuzz "$here/tests/fuzz/run.sh"
