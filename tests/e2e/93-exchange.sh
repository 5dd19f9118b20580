#!/usr/bin/env bash
# Directories exchanged (renameat2 RENAME_EXCHANGE) under a live session,
# with fanotify (as root) and inotify: the inotify recorder follows
# directories by path, and each half of an exchange moved the watches of
# both by their path prefix; a later move of one then took the other's
# watches with it, and what changed in that one was lost (found by the
# torture suite: a hard link never replicated, with the checkpoint
# completed).  Here: exchange two directory trees, move one of them out of
# the primary, then change both; exchange a file and a directory; and a
# directory renamed over an empty one.  After each, a checkpoint and
# georep verify of the pair, which must find nothing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

export GEOREP_TEST_NO_FSYNC=1
exchange() {
	"$PY" - "$1" "$2" <<-'PYEOF'
		import ctypes, os, sys
		libc = ctypes.CDLL(None, use_errno=True)
		libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p,
		    ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
		if libc.renameat2(-100, os.fsencode(sys.argv[1]), -100,
		    os.fsencode(sys.argv[2]), 2) != 0:
		    e = ctypes.get_errno()
		    sys.exit("renameat2 RENAME_EXCHANGE: %s" % os.strerror(e))
	PYEOF
}
verified() {
	checkpoint_and_compare
	expect_rc 0 G verify "$P" "$S"
}
DETECTORS=inotify
((EUID == 0)) && DETECTORS="fanotify inotify"
for det in $DETECTORS; do
	sess=$det P=$T/p-$det S=$T/s-$det
	mkdir -p "$P/a/sa/ssa" "$P/b/sb" "$T/out-$det"
	echo a >"$P/a/fa" && echo b >"$P/b/fb" && echo f >"$P/file"
	expect_rc 0 G create "$sess" "$P" "$S" --config change_detector="$det" \
	    --config crawl_interval=1h
	at_exit "G stop $sess >/dev/null 2>&1 || true"
	expect_rc 0 G start "$sess"
	verified
	[[ $(field "d['change_detector']") == "$det" ]] ||
		fail "the session runs with $(field "d['change_detector']"), not $det"

	step "$det: two directories exchanged, one moved out, both changed"
	exchange "$P/a" "$P/b"
	mv "$P/a" "$T/out-$det/gone"	# b's tree, now at a
	echo new >"$P/b/new-in-a"	# a's tree, now at b
	echo deeper >"$P/b/sa/ssa/new-deeper"
	mkdir "$P/b/sa/newdir" && echo x >"$P/b/sa/newdir/x"
	verified

	step "$det: a file and a directory exchanged, then changed"
	exchange "$P/file" "$P/b"
	echo after >"$P/file/after-exchange"
	echo more >>"$P/b"
	verified

	step "$det: a directory renamed over an empty one, then changed"
	mkdir "$P/empty" "$P/c" && echo c >"$P/c/fc"
	verified
	mv -T "$P/c" "$P/empty"
	echo later >"$P/empty/later"
	verified
	expect_rc 0 G stop "$sess"
done
