#!/usr/bin/env bash
# Install what a fresh Debian 12 machine lacks to build and test georep
# (--bench: also the peers `make bench` measures against).
# Idempotent: packages already present are not touched.
set -euo pipefail
pkgs=(gcc make pkg-config liblmdb-dev libzstd-dev libxxhash-dev libinih-dev libjansson-dev libcmocka-dev librsync-dev
      python3 attr acl rsync strace clang libclang-rt-14-dev util-linux procps e2fsprogs
      btrfs-progs
      # 12-manpages lints and renders docs/man with mandoc; 13-install
      # verifies the unit, reads the logrotate file and builds the package.
      mandoc systemd logrotate debhelper dpkg-dev
      # 14-metrics reads the metrics with the Prometheus client's parser.
      python3-prometheus-client
      # The remote scenarios (45, 46) start an sshd of their own on
      # 127.0.0.1 and in network namespaces: they never use or change the
      # system's sshd nor /etc/ssh (which the package may set up and start).
      openssh-server openssh-client iproute2)
if [[ ${1-} == --bench ]]; then
	# bench/suite.sh: jq reads georep status --json; python3 (above)
	# runs bench/benchtool.py; coreutils' cp -a is a peer too
	pkgs+=(rsync tar lsyncd time jq coreutils)
elif (($#)); then
	echo "usage: tests/install-deps.sh [--bench]" >&2
	exit 64
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: missing packages: ${missing[*]} (run as root)" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
