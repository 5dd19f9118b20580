# georep -- see README.md.  GNU make; dependencies through pkg-config
# (librsync ships no .pc on Debian 12, so it is linked by name).

PKGS      := lmdb libzstd libxxhash inih jansson
CC        ?= cc
CFLAGS    ?= -O2 -g
WARN      := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wformat=2 \
             -Wstrict-prototypes -Wmissing-prototypes
ifdef WERROR
WARN      += -Werror
endif
CPPFLAGS  += -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
# Deferred (=, not :=): on a fresh machine these are expanded only once a
# recipe runs, after `deps` installed pkg-config and the libraries.  The
# targets that install (demo, check, bench) build through a sub-make for the
# same reason.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
ALL_CFLAGS = -std=gnu11 -pthread $(WARN) $(CFLAGS) $(PKG_CFLAGS)
LIBS       = $(PKG_LIBS) -lrsync -lm -pthread

BUILD     ?= build
SRC       := $(wildcard src/*/*.c)
# Everything but the command line goes into the unit tests' link: every
# stage of the data path can be tested on its own.
LIB_SRC   := $(filter-out src/cli/%,$(SRC))
OBJ       := $(SRC:src/%.c=$(BUILD)/%.o)
LIB_OBJ   := $(LIB_SRC:src/%.c=$(BUILD)/%.o)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all check check-plain unit asan fuzz demo bench clean deps bench-deps \
	torture install uninstall

all: georep

georep: $(BUILD)/georep
	ln -sf $(BUILD)/georep georep

$(BUILD)/georep: $(OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -Isrc -o $@ $(filter %.c %.o,$^) $(LIBS) -lcmocka

# The workload generator the torture tests run ($FSSTRESS): libc only.
TOOL_BIN  := $(BUILD)/tests/fsstress

$(BUILD)/tests/fsstress: tests/tools/fsstress.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $<

-include $(OBJ:.o=.d)

# Install what a fresh Debian 12 machine lacks (as root).
deps:
	tests/install-deps.sh

bench-deps:
	tests/install-deps.sh --bench

# The whole suite: unit tests and end-to-end scenarios on real directories,
# first as built, then again under the sanitizers (make asan).  It installs
# what it needs first, so it works on a fresh machine on its own.
check: deps
	$(MAKE) check-plain
	$(MAKE) asan

# The scenarios run in E2E_JOBS lanes (tests/run.sh): most of their time
# is spent waiting on daemons, ssh and the disk, and two at a time load the
# code the way a busy server does (a race no scenario met alone showed so).
E2E_JOBS  ?= 2

check-plain: all $(UNIT_BIN) $(TOOL_BIN)
	GEOREP=$(CURDIR)/$(BUILD)/georep FSSTRESS=$(CURDIR)/$(BUILD)/tests/fsstress GEOREP_ASAN=$(GEOREP_ASAN) \
	    E2E_JOBS=$(E2E_JOBS) UNIT_BIN="$(UNIT_BIN)" tests/run.sh

unit: $(UNIT_BIN)
	GEOREP=$(CURDIR)/$(BUILD)/georep UNIT_BIN="$(UNIT_BIN)" tests/run.sh --unit

# The suite under AddressSanitizer (with leak checks) and
# UndefinedBehaviorSanitizer; any report fails the test that caused it.
ASAN_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
               -fno-sanitize-recover=undefined
asan:
	$(MAKE) BUILD=build-asan CFLAGS="$(ASAN_CFLAGS)" \
	    LDFLAGS="-fsanitize=address,undefined" GEOREP_ASAN=1 check-plain

# The torture suite at full scale (tests/torture/run.sh): faults injected
# into live sessions under a workload, each case ended by georep verify;
# make check runs the short version of each case.
torture: all $(TOOL_BIN)
	GEOREP=$(CURDIR)/$(BUILD)/georep FSSTRESS=$(CURDIR)/$(TOOL_BIN) \
	    tests/torture/run.sh

# libFuzzer on the frame parser and the secondary's request handling, then
# on the primary's handling of the replies (FUZZ_SECONDS each, 60).
fuzz:
	tests/fuzz/run.sh

demo: deps
	$(MAKE) all
	tests/demo.sh

# The scenarios of issue 18 (bench/suite.sh --help; BENCH_QUICK=1 for a
# smoke run of a few minutes, BENCH_SCENARIOS="1 3 7" for some of them).
# Scenario 6 is the lag benchmark, on a fresh loop-mounted ext4 (LAG_FS=ext4,
# needs root): the host's filesystem state skews it (docs/BENCHMARKS.md).
# LAG_FS= runs it in /tmp.  bench/run.sh, the earlier small-file benchmark,
# still runs on its own.
LAG_FS ?= ext4
bench: bench-deps
	$(MAKE) all
	LAG_FS=$(LAG_FS) bench/suite.sh

# Install under PREFIX (/usr/local), staged under DESTDIR for a package:
# the binary, the manual pages, the systemd template unit (georep@NAME),
# bash completion and the logrotate file of the root sessions' logs.
PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
MANDIR         ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR    ?= $(PREFIX)/share/bash-completion/completions
LOGROTATEDIR   ?= /etc/logrotate.d

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSTEMDUNITDIR) \
	    $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(LOGROTATEDIR)
	install -m 0755 $(BUILD)/georep $(DESTDIR)$(BINDIR)/georep
	install -m 0644 docs/man/georep.1 $(DESTDIR)$(MANDIR)/man1/georep.1
	install -m 0644 docs/man/georep.conf.5 $(DESTDIR)$(MANDIR)/man5/georep.conf.5
	sed 's|@BINDIR@|$(BINDIR)|g' dist/georep@.service.in \
	    >$(DESTDIR)$(SYSTEMDUNITDIR)/georep@.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/georep@.service
	install -m 0644 dist/georep.bash-completion $(DESTDIR)$(BASHCOMPDIR)/georep
	sed 's|georep status|$(BINDIR)/georep status|' dist/georep.logrotate \
	    >$(DESTDIR)$(LOGROTATEDIR)/georep
	chmod 0644 $(DESTDIR)$(LOGROTATEDIR)/georep

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/georep $(DESTDIR)$(MANDIR)/man1/georep.1 \
	    $(DESTDIR)$(MANDIR)/man5/georep.conf.5 \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/georep@.service \
	    $(DESTDIR)$(BASHCOMPDIR)/georep $(DESTDIR)$(LOGROTATEDIR)/georep

clean:
	rm -rf build build-asan build-fuzz georep
