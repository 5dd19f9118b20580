#!/usr/bin/env bash
# Ctrl-C during georep sync: the terminal sends SIGINT to its whole
# foreground process group.  The sync says it was interrupted and what the
# next sync does, exits 130, and no protocol error shows (the secondary,
# in a process group of its own, is ended by its primary); the next sync
# converges.  Both for a first sync and for a later one.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

P=$T/p S=$T/s
# Files of zeros, written (not sparse): sent in full, quick to make.
big_files() { # DIR PREFIX N
	local i
	mkdir -p "$1"
	for ((i = 0; i < $3; i++)); do
		head -c 8M /dev/zero >"$1/$2$i"
	done
}
files_in() {
	[[ -d $S ]] || { echo 0; return; }
	find "$S" -path "$S/.georep" -prune -o -type f -print | wc -l
}

# Start a sync in a process group of its own (job control: a background
# job of a script would otherwise ignore SIGINT), freeze the group once
# the secondary holds at least MIN files, send SIGINT to the group as a
# terminal would, let it go on; the status in $RC, stderr in $T/err.
interrupt_sync() { # MIN
	local min=$1 pid deadline=$((SECONDS + 60))
	set -m
	"$GEOREP" sync --home "$T/home" --no-fsync "$P" "$S" >"$T/out" 2>"$T/err" &
	pid=$!
	set +m
	until (($(files_in) >= min)); do
		kill -0 "$pid" 2>/dev/null || fail "the sync ended before it was interrupted: $(cat "$T/err")"
		((SECONDS < deadline)) || fail "no $min files in $S within 60s"
		sleep 0.01
	done
	kill -STOP -- "-$pid" 2>/dev/null || fail "the sync ended before it was stopped"
	local held
	held=$(files_in)
	echo "interrupting with $held files on the secondary" >&2
	kill -INT -- "-$pid"
	kill -CONT -- "-$pid"
	RC=0
	wait "$pid" || RC=$?
	sed 's/^/  err: /' "$T/err" >&2
	echo "  rc: $RC" >&2
	grep -q 'protocol error' "$T/err" &&
		check_failed "an interrupted sync printed a protocol error"
	[[ $RC == 130 ]] || check_failed "an interrupted sync exited $RC, not 130"
	return 0
}

step "a first sync interrupted"
big_files "$P" a 32
interrupt_sync 2
expect_stderr 'interrupted \(SIGINT\)'
expect_stderr "$S holds part of the first copy"
expect_stderr 'the next georep sync of this pair resumes it'
expect_rc 0 gsync "$P" "$S"
expect_stderr 'the first sync into .* did not finish: resuming it'
compare "$P" "$S"

step "a later sync interrupted"
big_files "$P/more" b 32
echo changed >"$P/a0"
interrupt_sync 34
expect_stderr 'interrupted \(SIGINT\)'
expect_stderr "$S holds part of this run's changes"
expect_stderr 'sends what is missing'
expect_rc 0 gsync "$P" "$S"
expect_stderr 'the last sync did not finish'
compare "$P" "$S"
expect_rc 0 gsync "$P" "$S"
expect_nothing_sent
