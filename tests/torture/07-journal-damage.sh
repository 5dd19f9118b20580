#!/usr/bin/env bash
# Torture 7: the journal damaged on disk.  The session is paused (the
# monitor records, the worker applies nothing), changes are recorded into
# sealed segments, then one of them is damaged: its tail cut (a torn
# record), or bytes flipped in the middle of it (a corrupt record).  On
# resume the damage is detected -- named in the log -- and a full crawl
# covers what the damaged segment held: the trees converge.  Short: one of
# each; full: five of each.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROUNDS=$(scale 1 5)
P=$T/p S=$T/s
mkdir -p "$P"
"$FSSTRESS" "$P" --seed "$SEED" --ops 1000 >"$T/seed-tree.log" 2>&1
session_up inotify
jdir=$T/home/sessions/$sess/journal
logf=$T/home/sessions/$sess/log
n=0
for ((r = 1; r <= ROUNDS; r++)); do
	for damage in torn corrupt; do
		n=$((n + 1))
		expect_rc 0 G pause "$sess"
		wait_for "d['state'] == 'Paused'" "Paused" 30
		"$FSSTRESS" "$P" --seed $((SEED + n)) --ops 300 \
		    >"$T/burst-$n.log" 2>&1 || fail "fsstress burst $n failed"
		OPS=$((OPS + 300))
		# Sealed segments hold the burst (a cut comes within
		# change_interval, 1 s): the largest one is damaged.
		until_true "a sealed segment" 30 bash -c "ls '$jdir'/*.seg >/dev/null 2>&1"
		seg=$(ls -S "$jdir"/*.seg | head -1)
		size=$(stat -c %s "$seg")
		((size > 64)) || fail "the segment $seg is too small to damage ($size bytes)"
		off=$(stat -c %s "$logf")
		if [[ $damage == torn ]]; then
			truncate -s $((size - 7)) "$seg"
		else
			"$PY" - "$seg" <<-'PYEOF'
				import sys
				p = sys.argv[1]
				b = bytearray(open(p, "rb").read())
				mid = 24 + (len(b) - 24) // 2
				for i in range(mid, min(mid + 8, len(b))):
				    b[i] ^= 0xff
				open(p, "wb").write(bytes(b))
			PYEOF
		fi
		t0=$(fault_time)
		expect_rc 0 G resume "$sess"
		fault_converged "$t0" 180
		echo "  $damage segment: converged in ${CONVERGE[-1]} s" >&2
		# Flipped bytes in a length read as a record cut short: either
		# word for a corrupt one, "torn" for a cut tail.
		want=$([[ $damage == torn ]] && echo "torn" || echo "(torn|corrupt)")
		tail -c +$((off + 1)) "$logf" |
			awk -v w="ends in a $want record" '$0 ~ w { f = 1 } END { exit !f }' ||
			check_failed "the $damage segment was not reported in $logf"
	done
done
final_verify
result faults="$n journal segments damaged ($ROUNDS torn, $ROUNDS corrupt)"
