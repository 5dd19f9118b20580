#!/usr/bin/env bash
# Installing georep as an administrator would:
#   - make install (PREFIX, DESTDIR): the binary, georep(1) and
#     georep.conf(5), the systemd template unit georep@.service, bash
#     completion and the logrotate file, where a Debian package puts them;
#     make uninstall takes them away again;
#   - the unit passes systemd-analyze verify, and its command line (no
#     systemctl here), with %i a session's name and its Environment, runs
#     that session in the foreground: the replica follows a change, the
#     log goes to the journal's stream with its priorities ("<6>") and a
#     line per turn, and SIGTERM (what systemd sends) ends it with 0;
#   - the bash completion completes commands, a command's options and
#     session names;
#   - logrotate -d reads the logrotate file;
#   - the Debian package builds from the tree (dpkg-buildpackage -us -uc
#     -b), holds those files, dpkg installs it (into a root of its own:
#     registered, its georep runs, man finds its page) and purges it
#     without a file left, and apt-get -s would install it here.  Skipped
#     without debhelper, and under the sanitizers (a second whole build).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(dirname "$GEOREP")

step "make install PREFIX=/usr DESTDIR=..."
R=$T/root
# -o all: the binary under test as it is (make check built it already).
expect_rc 0 make -s -C "$root" -o all install BUILD="$build" PREFIX=/usr \
	DESTDIR="$R" SYSTEMDUNITDIR=/lib/systemd/system
for f in usr/bin/georep usr/share/man/man1/georep.1 \
    usr/share/man/man5/georep.conf.5 lib/systemd/system/georep@.service \
    usr/share/bash-completion/completions/georep etc/logrotate.d/georep; do
	[[ -f $R/$f ]] || check_failed "make install did not install /$f"
done
[[ -x $R/usr/bin/georep ]] || fail "the installed georep is not executable"
expect_rc 0 "$R/usr/bin/georep" --version
grep -q '^ExecStart=/usr/bin/georep start --foreground %i$' \
	"$R/lib/systemd/system/georep@.service" ||
	check_failed "the unit does not start /usr/bin/georep: $(grep ExecStart "$R/lib/systemd/system/georep@.service")"

step "the unit passes systemd-analyze verify"
if command -v systemd-analyze >/dev/null; then
	# As installed with PREFIX=$T/usr: the paths it names exist.
	expect_rc 0 make -s -C "$root" -o all install BUILD="$build" \
		PREFIX="$T/usr" LOGROTATEDIR="$T/etc/logrotate.d"
	cp "$T/usr/lib/systemd/system/georep@.service" "$T/georep@demo.service"
	# Its Documentation= pages are looked up with man.
	MANPATH=$T/usr/share/man expect_rc 0 systemd-analyze verify "$T/georep@demo.service"
	[[ ! -s $T/err ]] || check_failed "systemd-analyze verify: $(cat "$T/err")"
	expect_rc 0 make -s -C "$root" uninstall PREFIX="$T/usr" LOGROTATEDIR="$T/etc/logrotate.d"
	left=$(find "$T/usr" "$T/etc" -type f)
	[[ -z $left ]] || check_failed "make uninstall left: $left"
else
	echo "  (systemd-analyze is not installed: not verified)" >&2
fi

step "the unit's command line runs a session; SIGTERM ends it with 0"
unit=$R/lib/systemd/system/georep@.service
cmdline=$(sed -n 's/^ExecStart=//p' "$unit")
home=$(sed -n 's/^Environment=GEOREP_HOME=//p' "$unit")
[[ $home == /var/lib/georep ]] || check_failed "the unit's GEOREP_HOME is '$home'"
P=$T/p S=$T/s
mkdir -p "$P"
echo one >"$P/one"
export GEOREP_TEST_NO_FSYNC=1
# The session in a home of the test's, as the unit's would be in its own.
export GEOREP_HOME=$T/home
expect_rc 0 "$GEOREP" create unit-test "$P" "$S" --config change_detector=inotify
cmdline=${cmdline//%i/unit-test}
cmdline=${cmdline/\/usr\/bin\/georep/$GEOREP}
# Its standard error as the journal's stream: systemd says which it is.
: >"$T/fg.log"
# shellcheck disable=SC2086  # a command line, split as systemd splits it
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/fg.log") $cmdline >>"$T/fg.log" 2>&1 &
pid=$!
at_exit "kill $pid 2>/dev/null || true"
sess=unit-test
G() { "$GEOREP" "$1" "${@:2}"; }
st() { "$GEOREP" status --json "$sess"; }
wait_for "d['pid'] == $pid" "the session run by the unit's command line" 30
echo two >"$P/two"
checkpoint_and_compare
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
((rc == 0)) || check_failed "SIGTERM: the unit's command exited $rc: $(tail -5 "$T/fg.log")"
grep -q "^<6>unit-test: session unit-test stopped" "$T/fg.log" ||
	check_failed "the foreground monitor did not say it stopped: $(tail -5 "$T/fg.log")"
# The journal's priorities, no timestamps of our own; a line per turn with
# what it applied and the sync point.
grep -Eq '^<6>unit-test: turn \(journal, [0-9]+ records?\): [0-9]+ created, [0-9]+ changed, [0-9]+ deleted, .* sync point [0-9]{4}-' "$T/fg.log" ||
	check_failed "no turn line with the journal's priority: $(head -20 "$T/fg.log")"
! grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$T/fg.log" ||
	check_failed "timestamps of its own in the journal's stream: $(head -5 "$T/fg.log")"
unset GEOREP_HOME

step "bash completion: commands, options, sessions"
comp=$R/usr/share/bash-completion/completions/georep
complete_words() { # WORDS...: what completes the last one
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1));
		_georep; printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$@"
}
[[ $(complete_words "$GEOREP" st | sort | tr '\n' ' ') == "start status stop " ]] ||
	check_failed "georep st<TAB>: $(complete_words "$GEOREP" st | tr '\n' ' ')"
complete_words "$GEOREP" sync --ad | grep -qx -- --adopt ||
	check_failed "georep sync --ad<TAB> does not give --adopt"
complete_words "$GEOREP" sync - | grep -qx -- -x ||
	check_failed "georep sync -<TAB> does not give -x"
complete_words "$GEOREP" status --home "$T/home" unit | grep -qx unit-test ||
	check_failed "georep status --home HOME unit<TAB> does not give unit-test"

step "logrotate reads the logrotate file"
if command -v logrotate >/dev/null; then
	expect_rc 0 logrotate -d -s "$T/logrotate.state" "$R/etc/logrotate.d/georep"
	expect_no_stderr "error"
else
	echo "  (logrotate is not installed: not checked)" >&2
fi

step "the Debian package"
if [[ ${GEOREP_ASAN-} == 1 ]]; then
	echo "  (not under the sanitizers: the package is a second whole build)" >&2
elif ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
	echo "  (dpkg-buildpackage or debhelper is not installed: not built)" >&2
else
	# The tree as committed (or as it is, outside a git checkout).
	mkdir "$T/pkg" "$T/pkg/georep"
	if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$root" ls-files -z | (cd "$root" && xargs -0 tar -cf - --) |
			tar -C "$T/pkg/georep" -xf -
	else
		tar -C "$root" -cf - --exclude=./build --exclude=./build-asan \
			--exclude=./build-fuzz . | tar -C "$T/pkg/georep" -xf -
	fi
	(cd "$T/pkg/georep" && DEB_BUILD_OPTIONS=parallel=$(nproc) \
		dpkg-buildpackage -us -uc -b) >"$T/pkg.log" 2>&1 ||
		fail "dpkg-buildpackage failed: $(tail -30 "$T/pkg.log")"
	deb=$(ls "$T"/pkg/georep_*.deb 2>/dev/null | head -1)
	[[ -n $deb ]] || fail "no .deb made: $(tail -10 "$T/pkg.log")"
	dpkg-deb -c "$deb" >"$T/deb.list"
	for f in ./usr/bin/georep ./usr/share/man/man1/georep.1.gz \
	    ./usr/share/man/man5/georep.conf.5.gz ./lib/systemd/system/georep@.service \
	    ./usr/share/bash-completion/completions/georep ./etc/logrotate.d/georep; do
		grep -q " $f\$" "$T/deb.list" || check_failed "the package lacks $f"
	done
	dpkg-deb -f "$deb" Depends | grep -q liblmdb ||
		check_failed "the package's Depends lack the libraries: $(dpkg-deb -f "$deb" Depends)"
	# Installed by dpkg itself, into a root of its own (this machine's
	# /usr is not touched): registered, runnable, its man page found by
	# man, then purged without a file left behind.
	D=$T/dpkgroot
	mkdir -p "$D/var/lib/dpkg/updates" "$D/var/lib/dpkg/info"
	: >"$D/var/lib/dpkg/status"
	dpk() { dpkg --root="$D" --force-depends --force-script-chrootless "$@"; }
	expect_rc 0 dpk -i "$deb"
	[[ $(dpkg-query --root="$D" -W -f='${Status}' georep) == "install ok installed" ]] ||
		check_failed "dpkg does not hold it installed: $(dpkg-query --root="$D" -W georep 2>&1)"
	expect_rc 0 "$D/usr/bin/georep" --version
	if command -v man >/dev/null; then
		MANPATH=$D/usr/share/man man -P cat georep 2>/dev/null | grep -q 'georep status' ||
			check_failed "man georep (installed) does not show georep status"
	fi
	expect_rc 0 dpk -P georep
	left=$(find "$D" -mindepth 1 -path "$D/var/lib/dpkg" -prune -o \( -type f -print \))
	[[ -z $left ]] || check_failed "files left after a purge: $left"
	# What it depends on is in Debian: apt would install it here.
	if command -v apt-get >/dev/null; then
		apt-get install -s "$deb" >"$T/apt.sim" 2>&1 &&
			grep -q '^Inst georep' "$T/apt.sim" ||
			check_failed "apt-get install -s: $(tail -5 "$T/apt.sim")"
	fi
fi
