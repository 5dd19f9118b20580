# shellcheck shell=bash disable=SC2034,SC2317
# A loopback sshd of the benchmark's own: source it, then call bench_sshd.
# It is the tests' sshd (tests/e2e/lib_ssh.sh, sourced here): its own host
# key, user key, config, pid file and authorized keys under WORKDIR/sshd,
# listening on 127.0.0.1 only, on a spare port; the client runs with
# -F /dev/null and its own known_hosts.  Nothing of the system's sshd,
# /etc/ssh or ~/.ssh is used or changed.
#
#   bench_sshd WORKDIR GEOREP_BIN   starts it (root only); the georep the
#        far side runs is a copy of GEOREP_BIN (first in the PATH of the
#        sessions the sshd starts).  Sets SSH_CMD (the whole client command
#        line, for --ssh and rsync -e), SSH_HOST (127.0.0.1), SSH_PORT,
#        SSH_DIR.  Its stop is added to AT_EXIT, which the caller runs at
#        exit, last in first out: lib_ssh.sh's (the sshd by its pid, and the
#        connections and secondaries it started), then, should the sshd
#        still run, a kill of the pid in its pid file (bench_sshd_stop).
#
# The caller defines die and AT_EXIT (an array of commands).

bench_sshd() {
	# What lib_ssh.sh expects of the tests' harness.
	T=$1 GEOREP=$2
	fail() { die "sshd: $*"; }
	skip() { die "sshd: $*"; }
	at_exit() { AT_EXIT+=("$1"); }
	rm -rf "$T"
	mkdir -p "$T"
	AT_EXIT+=("bench_sshd_stop '$T/sshd/main.pid'")
	# shellcheck source=../tests/e2e/lib_ssh.sh
	source "$REPO/tests/e2e/lib_ssh.sh"
	ssh_setup 2>>"$T/setup.log" || die "sshd: see $T/setup.log"
	[[ -s $SSH_DIR/main.pid ]] || die "sshd: no pid file $SSH_DIR/main.pid"
}

# bench_sshd_stop PIDFILE: the sshd of that pid file, if it still runs
bench_sshd_stop() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 0
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	[[ $(ps -o comm= -p "$pid" 2>/dev/null) == sshd ]] || return 0
	kill "$pid" 2>/dev/null || true
}
