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
NSP=gtp-$$ NSS=gts-$$ VP=gtp$$ VS=gts$$
ADDR_S=10.214.0.1 ADDR_P=10.214.0.2
ip netns add "$NSP" 2>"$T/netns.err" ||
	skip "network namespaces are not permitted here: $(cat "$T/netns.err")"
at_exit "ip netns del $NSP"
ip netns add "$NSS"
at_exit "ip netns del $NSS"
ip link add "$VP" netns "$NSP" type veth peer name "$VS" netns "$NSS"
ip -n "$NSP" addr add "$ADDR_P/30" dev "$VP"
ip -n "$NSS" addr add "$ADDR_S/30" dev "$VS"
for ns in "$NSP" "$NSS"; do ip -n "$ns" link set lo up; done
ip -n "$NSP" link set "$VP" up
ip -n "$NSS" link set "$VS" up
sshd_start netns "$ADDR_S" "$NSS"
ssh_known_host "$ADDR_S" "$SSHD_PORT"
NS_CMD="ssh -F $SSH_DIR/ssh_config -p $SSHD_PORT"
ip netns exec "$NSP" $NS_CMD root@"$ADDR_S" true ||
	fail "ssh from $NSP to $ADDR_S failed"
link() { ip -n "$NSP" link set "$VP" "$1"; }
at_exit "ip -n $NSP link set $VP up 2>/dev/null || true"

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
stress_start "$P" $((SEED + 1)) 200
for ((i = 1; i <= CUTS; i++)); do
	sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
	until_true "an ssh under the worker (cut $i)" 60 test -n "$(ssh_pid)"
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
