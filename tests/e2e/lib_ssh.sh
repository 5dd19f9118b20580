# An sshd of the scenario's own, for the scenarios of remote secondaries:
# source it after lib.sh.  Nothing here uses the system's sshd or changes
# /etc/ssh or ~/.ssh: the server has its own config, host key, pid file and
# authorized keys under $T/sshd/, the client is run with -F (/dev/null or a
# file of ours) and its own known_hosts, and the servers and what they
# started are stopped when the scenario ends.
#
#   ssh_setup            host and user keys (ed25519), an sshd on 127.0.0.1
#                        (a spare port), root's key authorized; exports
#                        SSH_CMD (the whole client command line, for --ssh
#                        and ssh_command), SSH_HOST (127.0.0.1), SSH_PORT,
#                        SSH_DIR ($T/sshd), SSH_BIN (the directory of the
#                        georep under test, first in the PATH of every
#                        session the sshd starts: SetEnv PATH=...), and
#                        SSH_CMD_SHORT: the same client options from a
#                        config file of ours, $T/sshd/ssh_config (ssh -F
#                        FILE -p PORT), for a session's ssh_command: a
#                        line of a session's config file holds at most
#                        200 bytes (libinih), less than SSH_CMD's length.
#                        Skips the scenario (exit 77) when sshd is missing,
#                        when not root, or when it cannot be started.
#   sshd_start NAME ADDR [NETNS]   another sshd (config, log, pid under
#                        $T/sshd/NAME.*), on ADDR, inside the network
#                        namespace NETNS if given; SSHD_PORT is its port.
#                        ssh_setup's own is NAME "main" (its log:
#                        $T/sshd/log)
#   ssh_client_cmd ADDR PORT [KEY] [KNOWN_HOSTS]   prints a client command
#                        line (the user key and known_hosts by default)
#   ssh_known_host ADDR PORT [FILE] [HOSTKEY]   adds the host key for
#                        [ADDR]:PORT to a known_hosts file
#   ssh_newkey NAME      another user key, $T/sshd/NAME (and NAME.pub)
#   ssh_authorize USER [COMMAND] [KEY]   authorizes KEY (the user key by
#                        default) for USER, with the forced command
#                        command="COMMAND",restrict when COMMAND is not empty
#   ssh_test_user        a non-root account with a real shell for the
#                        scenario: SSH_USER, SSH_UID, SSH_GID.  It is
#                        georep-test, created (useradd, home /, no password:
#                        the password field is '*', not a locked '!', which
#                        sshd without PAM would refuse) when missing and
#                        removed at exit when this scenario created it.
#                        An existing georep-test is used as it is.
#   sshd_log [NAME]      prints the last lines of an sshd's log
#
# /run/sshd (sshd's privilege separation directory) is made when missing:
# sshd refuses to start without it.

SSH_DIR=$T/sshd
SSH_HOST=127.0.0.1
SSH_PORT=
SSH_CMD=
SSH_CMD_SHORT=
SSH_BIN=$SSH_DIR/bin
SSHD_PORT=
SSH_USER= SSH_UID= SSH_GID=

ssh_client_cmd() {
	local addr=$1 port=$2 key=${3:-$SSH_DIR/user_key}
	local kh=${4:-$SSH_DIR/known_hosts}
	# -F /dev/null: no system or user config (and no ~/.ssh made);
	# the host key checked strictly against our known_hosts only.
	echo "ssh -F /dev/null -oBatchMode=yes -oIdentitiesOnly=yes" \
		"-oUserKnownHostsFile=$kh -oGlobalKnownHostsFile=/dev/null" \
		"-oStrictHostKeyChecking=yes -oConnectTimeout=10 -i $key -p $port"
}

ssh_known_host() {
	local addr=$1 port=$2 file=${3:-$SSH_DIR/known_hosts}
	local hostkey=${4:-$SSH_DIR/host_key}
	echo "[$addr]:$port $(cut -d' ' -f1,2 "$hostkey.pub")" >>"$file"
}

ssh_newkey() {
	rm -f "$SSH_DIR/$1" "$SSH_DIR/$1.pub"
	ssh-keygen -q -t ed25519 -N '' -C "georep-test-$1" -f "$SSH_DIR/$1" ||
		fail "ssh-keygen $1 failed"
}

ssh_authorize() {
	local user=$1 command=${2:-} key=${3:-$SSH_DIR/user_key}
	local file=$SSH_DIR/authorized_keys.$user opts=
	if [[ -n $command ]]; then
		[[ $command != *'"'* ]] ||
			fail "ssh_authorize: a forced command with a '\"': $command"
		opts="command=\"$command\",restrict "
	fi
	echo "$opts$(cut -d' ' -f1,2 "$key.pub")" >>"$file"
	# sshd reads it as USER (StrictModes no: any owner will do).
	chmod 644 "$file"
}

sshd_log() {
	local name=${1:-main} log
	log=$SSH_DIR/$name.log
	[[ $name != main ]] || log=$SSH_DIR/log
	echo "  last lines of $log:" >&2
	tail -n 20 "$log" 2>/dev/null | sed 's/^/    /' >&2 || true
}

# PID runs (a zombie does not).
_alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ $st != Z* ]]
}

# Every process under PID, children first.
_descendants() {
	local c
	for c in $(pgrep -P "$1" || true); do
		_descendants "$c"
		echo "$c"
	done
}

# Stop an sshd and what it started (its connections and the secondaries
# they run: a connection whose client is gone without a word, as after a
# cut link, would otherwise live on), by pid, at exit.
_sshd_stop() {
	local pid=$1 deadline=$((SECONDS + 10)) all left p
	all="$(_descendants "$pid" | tr '\n' ' ')$pid"
	kill $all 2>/dev/null || true
	while :; do
		left=
		for p in $all; do
			_alive "$p" && left+=" $p"
		done
		[[ -n $left ]] || return 0
		if ((SECONDS >= deadline)); then
			kill -9 $left 2>/dev/null || true
			return 0
		fi
		sleep 0.02
	done
}

# Whether ADDR:PORT answers with an SSH banner (inside NETNS if given).
_ssh_banner() {
	local addr=$1 port=$2 netns=${3:-}
	local probe=(timeout 5 bash -c "exec 3<>/dev/tcp/$addr/$port && head -c 8 <&3")
	[[ -z $netns ]] || probe=(ip netns exec "$netns" "${probe[@]}")
	[[ $("${probe[@]}" 2>/dev/null) == SSH-2.0- ]]
}

sshd_start() {
	local name=$1 addr=$2 netns=${3:-} conf log pid port try deadline
	conf=$SSH_DIR/$name.config
	log=$SSH_DIR/$name.log
	[[ $name != main ]] || log=$SSH_DIR/log
	for try in $(seq 1 30); do
		# A spare port: one from a random base, and another if sshd
		# cannot bind it (it says so and exits at once).
		port=$((20000 + RANDOM % 12000))	# below the ephemeral ports
		cat >"$conf" <<-EOF
			# sshd of the scenario $T (tests/e2e/lib_ssh.sh)
			ListenAddress $addr
			Port $port
			HostKey $SSH_DIR/host_key
			PidFile $SSH_DIR/$name.pid
			AuthorizedKeysFile $SSH_DIR/authorized_keys.%u
			AuthorizedPrincipalsFile none
			StrictModes no
			PubkeyAuthentication yes
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			HostbasedAuthentication no
			UsePAM no
			PermitRootLogin prohibit-password
			PermitUserEnvironment no
			AllowUsers root georep-test
			SetEnv PATH=$SSH_BIN:/usr/bin:/bin
			UseDNS no
			PrintMotd no
			X11Forwarding no
			AllowTcpForwarding no
			LogLevel VERBOSE
		EOF
		/usr/sbin/sshd -t -f "$conf" 2>"$SSH_DIR/$name.check" ||
			skip "sshd refuses its test config: $(cat "$SSH_DIR/$name.check")"
		echo "== sshd $name: try port $port" >>"$log"
		if [[ -n $netns ]]; then
			ip netns exec "$netns" /usr/sbin/sshd -D -e -f "$conf" \
				>>"$log" 2>&1 &
		else
			/usr/sbin/sshd -D -e -f "$conf" >>"$log" 2>&1 &
		fi
		pid=$!
		deadline=$((SECONDS + 15))
		while kill -0 "$pid" 2>/dev/null; do
			if grep -q "Server listening on $addr port $port\." "$log" &&
				_ssh_banner "$addr" "$port" "$netns"; then
				at_exit "_sshd_stop $pid"
				echo "sshd $name (pid $pid) listens on $addr port $port" \
					"${netns:+in network namespace $netns }(log: $log)" >&2
				SSHD_PORT=$port
				return 0
			fi
			if ((SECONDS >= deadline)); then
				_sshd_stop "$pid"
				sshd_log "$name"
				skip "sshd did not listen on $addr port $port within 15 s"
			fi
			sleep 0.02
		done
		wait "$pid" 2>/dev/null || true
		grep -q "Address already in use" "$log" || {
			sshd_log "$name"
			skip "sshd could not be started (see above)"
		}
	done
	skip "sshd found no free port on $addr in 30 tries"
}

ssh_setup() {
	((EUID == 0)) || skip "needs root (an sshd of its own, accounts)"
	[[ -x /usr/sbin/sshd ]] ||
		skip "no /usr/sbin/sshd: openssh-server is not installed (tests/install-deps.sh)"
	command -v ssh >/dev/null && command -v ssh-keygen >/dev/null ||
		skip "no ssh or ssh-keygen: openssh-client is not installed (tests/install-deps.sh)"
	mkdir -p "$SSH_BIN"
	# Every account the sshd serves runs the georep under test.
	chmod 755 "$T" "$SSH_DIR" "$SSH_BIN"
	cp "$GEOREP" "$SSH_BIN/georep"
	chmod 755 "$SSH_BIN/georep"
	ssh-keygen -q -t ed25519 -N '' -C georep-test-host -f "$SSH_DIR/host_key" ||
		fail "ssh-keygen (host key) failed"
	ssh_newkey user_key
	if [[ ! -d /run/sshd ]]; then
		mkdir -p /run/sshd
		chmod 755 /run/sshd
	fi
	sshd_start main "$SSH_HOST"
	SSH_PORT=$SSHD_PORT
	: >"$SSH_DIR/known_hosts"
	ssh_known_host "$SSH_HOST" "$SSH_PORT"
	ssh_authorize root
	SSH_CMD=$(ssh_client_cmd "$SSH_HOST" "$SSH_PORT")
	cat >"$SSH_DIR/ssh_config" <<-EOF
		# The client's options (tests/e2e/lib_ssh.sh), as in SSH_CMD
		Host *
		  BatchMode yes
		  IdentitiesOnly yes
		  IdentityFile $SSH_DIR/user_key
		  UserKnownHostsFile $SSH_DIR/known_hosts
		  GlobalKnownHostsFile /dev/null
		  StrictHostKeyChecking yes
		  ConnectTimeout 10
	EOF
	SSH_CMD_SHORT="ssh -F $SSH_DIR/ssh_config -p $SSH_PORT"
	export SSH_CMD SSH_CMD_SHORT SSH_HOST SSH_PORT SSH_DIR SSH_BIN
	# The link itself, before georep uses it.
	local got
	got=$($SSH_CMD root@"$SSH_HOST" 'command -v georep' 2>"$SSH_DIR/probe.err") || {
		sed 's/^/    /' "$SSH_DIR/probe.err" >&2
		sshd_log
		fail "ssh root@$SSH_HOST to the test sshd failed"
	}
	[[ $got == "$SSH_BIN/georep" ]] ||
		fail "the remote georep is $got, not $SSH_BIN/georep (the sshd's SetEnv PATH)"
}

# The account this scenario created, once its processes (the secondaries
# its sshd started) are gone.
_ssh_user_remove() {
	local deadline=$((SECONDS + 10)) pids
	while pids=$(pgrep -u "$SSH_USER" | tr '\n' ' ') && [[ -n $pids ]]; do
		if ((SECONDS >= deadline)); then
			echo "killing what still runs as $SSH_USER: $pids" >&2
			kill -9 $pids 2>/dev/null || true
			break
		fi
		sleep 0.05
	done
	userdel "$SSH_USER" || echo "userdel $SSH_USER failed" >&2
}

ssh_test_user() {
	SSH_USER=georep-test
	if ! id "$SSH_USER" >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir / --shell /bin/bash \
			--password '*' --comment "georep tests (tests/e2e/lib_ssh.sh)" \
			--user-group "$SSH_USER" ||
			skip "cannot create the account $SSH_USER"
		at_exit _ssh_user_remove
		echo "created the account $SSH_USER (removed at exit)" >&2
	fi
	SSH_UID=$(id -u "$SSH_USER")
	SSH_GID=$(id -g "$SSH_USER")
	local shell
	shell=$(getent passwd "$SSH_USER" | cut -d: -f7)
	case $shell in
	*/nologin | */false | '') skip "the account $SSH_USER has no shell ($shell)" ;;
	esac
}

# ---- the far end's processes ----
#
#   remote_secondaries DIR   the pids of the `georep secondary DIR` processes
#                        the sshd started (on this machine: the test's
#                        "remote" host is this one), one a line
#   tmpfile_bytes PID DIR    the bytes in the nameless files (O_TMPFILE)
#                        process PID holds open in DIR: a PUT in progress
#   wait_tmpfile DIR MIN PID_OF_SYNC   wait (60 s deadline) until a secondary
#                        of DIR holds at least MIN bytes of a file not yet
#                        linked in, while PID_OF_SYNC (the primary) still
#                        runs; fails otherwise

remote_secondaries() { pgrep -xf "georep secondary $1" || true; }

tmpfile_bytes() {
	local pid=$1 dir=$2 fd l total=0 n
	for fd in /proc/"$pid"/fd/*; do
		l=$(readlink "$fd" 2>/dev/null) || continue
		[[ $l == "$dir/"*" (deleted)" ]] || continue
		n=$(stat -L -c %s "$fd" 2>/dev/null) || continue
		total=$((total + n))
	done
	echo "$total"
}

wait_tmpfile() {
	local dir=$1 min=$2 primary=$3 deadline=$((SECONDS + 60)) pid got
	while :; do
		kill -0 "$primary" 2>/dev/null ||
			fail "the primary (pid $primary) ended before $dir held $min bytes of a transfer"
		for pid in $(remote_secondaries "$dir"); do
			got=$(tmpfile_bytes "$pid" "$dir")
			if ((got >= min)); then
				echo "  secondary $pid holds $got bytes of a transfer in $dir" >&2
				return 0
			fi
		done
		((SECONDS < deadline)) ||
			fail "no secondary of $dir held $min bytes of a transfer within 60 s"
		sleep 0.01
	done
}

# netns_pair NET: two network namespaces of the scenario's own joined by a
# veth pair (NET.1/30 in NSS, NET.2/30 in NSP, inside them only), an sshd in
# NSS (after ssh_setup), the link up.  Sets NSP, NSS, ADDR_S, ADDR_P,
# NS_PORT and NS_CMD (ssh to the far end), and link up|down.  Returns 1,
# saying nothing, when network namespaces are not permitted here (the
# reason in $T/netns.err).
netns_pair() {
	local net=$1
	NSP=georep-$$-p NSS=georep-$$-s
	VP=grp$$ VS=grs$$		# at most 15 bytes
	ADDR_P=$net.2 ADDR_S=$net.1
	ip netns add "$NSP" 2>"$T/netns.err" || return 1
	at_exit "ip netns del $NSP"
	ip netns add "$NSS"
	at_exit "ip netns del $NSS"
	ip link add "$VP" netns "$NSP" type veth peer name "$VS" netns "$NSS"
	ip -n "$NSP" addr add "$ADDR_P/30" dev "$VP"
	ip -n "$NSS" addr add "$ADDR_S/30" dev "$VS"
	for ns in "$NSP" "$NSS"; do ip -n "$ns" link set lo up; done
	ip -n "$NSP" link set "$VP" up
	ip -n "$NSS" link set "$VS" up
	# Registered after the namespaces: it stops before they go.
	sshd_start netns "$ADDR_S" "$NSS"
	NS_PORT=$SSHD_PORT
	ssh_known_host "$ADDR_S" "$NS_PORT"
	NS_CMD="ssh -F $SSH_DIR/ssh_config -p $NS_PORT"
	ip netns exec "$NSP" $NS_CMD root@"$ADDR_S" true ||
		fail "ssh from $NSP to $ADDR_S failed"
	at_exit "ip -n $NSP link set $VP up 2>/dev/null || true"
}
link() { ip -n "$NSP" link set "$VP" "$1"; echo "  link $1" >&2; }
