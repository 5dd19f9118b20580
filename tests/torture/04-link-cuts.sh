#!/usr/bin/env bash
# Torture 4: the link to a remote secondary cut and restored while a
# workload runs (short: 2 of each; full: 10 of each, 20 cuts): the ssh
# process of the worker killed, and the link taken down and up between two
# network namespaces of the case's own (a veth pair, 10.214.0.1/30 and .2,
# inside them only; the sshd in one, the session's daemon in the other).
# A cut link is noticed by the keep-alive or the data path's timeout
# (timeout=3s), the session retries until the link is back, and converges.
# After each cut, the time from the link back (or the kill) to a completed
# checkpoint.  Skipped where network namespaces are not permitted.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../e2e/lib_ssh.sh"

CUTS=$(scale 2 10)
TIMEOUT=3
ssh_setup
netns_pair 10.214.0 ||
	skip "network namespaces are not permitted here: $(cat "$T/netns.err")"

P=$T/p S=$T/s
mkdir -p "$P"
"$FSSTRESS" "$P" --seed "$SEED" --ops 1500 >"$T/seed-tree.log" 2>&1
expect_rc 0 G create "$sess" "$P" "$ADDR_S:$S" --config ssh_command="$NS_CMD" \
	--config timeout=${TIMEOUT}s --config change_detector=inotify \
	--config crawl_interval=1h
expect_rc 0 ip netns exec "$NSP" "$GEOREP" start "$sess" --home "$T/home"
at_exit "G stop $sess >/dev/null 2>&1 || true"
checkpoint_and_compare 120
ssh_pid() {
	local w
	w=$(worker_pid)
	[[ -n $w ]] && pgrep -P "$w" -x ssh | head -1 || true
}
have_ssh() { [[ -n $(ssh_pid) ]]; }
stress_start "$P" $((SEED + 1)) 200
for ((i = 1; i <= CUTS; i++)); do
	sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
	# Asked again at each try: a worker that is restarting has none yet.
	until_true "an ssh under the worker (cut $i)" 60 have_ssh
	t0=$(fault_time)
	kill -9 "$(ssh_pid)"
	fault_converged "$t0" 120
	echo "  ssh killed ($i): converged in ${CONVERGE[-1]} s" >&2

	sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
	link down
	wait_for "d['state'] == 'Faulty'" "Faulty on the cut link ($i)" $((TIMEOUT * 4))
	link up
	t0=$(fault_time)
	fault_converged "$t0" 120
	echo "  link down and up ($i): converged in ${CONVERGE[-1]} s" >&2
done
stress_stop
checkpoint_and_compare 180
# The session's verify goes the session's way (from its namespace); the
# far end is this host, so the pair is also verified by its two paths.
GN() { ip netns exec "$NSP" "$GEOREP" "$1" --home "$T/home" "${@:2}"; }
expect_rc 0 GN verify "$sess"
expect_rc 0 G verify "$P" "$S"
DIFFERENCES=0
result faults="$CUTS ssh processes killed, $CUTS links down and up (netns)"
