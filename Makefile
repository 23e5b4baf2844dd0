# engramfs - a memory store you use through the file system.
# Plain GNU make; everything it builds goes under build/.  `make help` lists targets.

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -std=c11 -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes \
            -Wwrite-strings -Wvla -Wformat=2 -Wno-unused-parameter
ifdef WERROR
WARN     += -Werror
endif
# store/ links no FUSE: the layering is enforced by what each part links.
STORE_PKGS := rocksdb json-c inih libutf8proc libxxhash
FS_PKGS    := fuse3 libsystemd
CPPFLAGS += -D_FILE_OFFSET_BITS=64 -D_GNU_SOURCE -MMD -MP -Istore \
            $(shell pkg-config --cflags $(STORE_PKGS) $(FS_PKGS) 2>/dev/null)
STORE_LIBS := $(shell pkg-config --libs $(STORE_PKGS) 2>/dev/null) -lstemmer -lm -lpthread
FS_LIBS    := $(shell pkg-config --libs $(FS_PKGS) 2>/dev/null)
ifdef SANITIZE
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

B        ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=

STORE_SRC := $(wildcard store/*.c)
FS_SRC    := $(wildcard fs/*.c)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
STORE_OBJ := $(STORE_SRC:%.c=$(B)/%.o)
FS_OBJ    := $(FS_SRC:%.c=$(B)/%.o)
CTL_SRC   := $(wildcard ctl/*.c)
CTL_OBJ   := $(CTL_SRC:%.c=$(B)/%.o)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
BENCH_BIN := $(B)/tests/bench/floorfs $(B)/tests/bench/benchclient \
             $(B)/tests/bench/fts5bench $(B)/tests/bench/rocksdb_sync

LIB       := $(B)/libengram.a
DAEMON    := $(B)/engramfs

# make run: where the default store lives
DATA     ?= $(CURDIR)/data
MNT      ?= $(CURDIR)/mnt
RUN_CONF ?= $(CURDIR)/config/development.conf

.PHONY: all deps run stop test units unit e2e asan valgrind bench eval install clean help format lint

CTL       := $(B)/engramctl

all: $(DAEMON) $(CTL)

# engramctl finds its load-test scenarios where make install puts them.
$(CTL_OBJ): CPPFLAGS += -DCTL_SCENARIO_DIR='"$(PREFIX)/share/engramfs/scenarios"'

$(CTL): $(CTL_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(STORE_LIBS) $(LDLIBS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<

$(LIB): $(STORE_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(DAEMON): $(FS_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(FS_LIBS) $(STORE_LIBS) $(LDLIBS)

$(B)/tests/%: tests/unit/%.c $(LIB) tests/unit/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Itests/unit -o $@ $< $(LIB) $(LDFLAGS) $(STORE_LIBS) $(LDLIBS) -lcmocka

$(B)/tests/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(LDFLAGS) $(FS_LIBS) $(STORE_LIBS) $(LDLIBS)

# benchclient fill grows the bench's store through libengram.
$(B)/tests/bench/benchclient: tests/bench/benchclient.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(LIB) $(LDFLAGS) $(FS_LIBS) $(STORE_LIBS) $(LDLIBS)

# The recall reference of make bench: SQLite FTS5 in-process.
$(B)/tests/bench/fts5bench: LDLIBS += $(shell pkg-config --libs sqlite3 2>/dev/null)

## deps: install missing Debian packages (needs root or sudo)
deps:
	@scripts/deps.sh

## run: install what is missing, build, mount ./data at ./mnt in the background
run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run.sh start "$(DATA)" "$(MNT)" "$(RUN_CONF)"

## stop: unmount ./mnt and stop the daemon
stop:
	@scripts/run.sh stop "$(DATA)" "$(MNT)"

## test: unit tests (cmocka) and end-to-end tests (bats, real mount)
test: deps
	@$(MAKE) --no-print-directory all units
	@tests/run-all.sh "$(B)"

units: $(UNIT_BIN)

unit: $(UNIT_BIN)
	@tests/run-all.sh "$(B)" unit

e2e: all
	@tests/run-all.sh "$(B)" e2e

## asan: the whole test suite built with AddressSanitizer and UBSan
asan:
	@$(MAKE) --no-print-directory B=build/asan SANITIZE=address,undefined \
	    CFLAGS="-O1 -g $(ASAN_NOWARN)" test

# At -O1 GCC's value ranges are too coarse for -Wformat-truncation and it
# flags snprintf of small loop counters; the -O2 build keeps the warning.
ASAN_NOWARN := -Wno-format-truncation

## valgrind: unit tests under valgrind, zero errors and leaks (VALGRIND_JOBS at once)
# VALGRIND=1 also tells the tests to shrink their workloads and loosen
# their time bounds (tests/unit/harness.h, harness_slow): a store open
# costs about 3 s of CPU under valgrind.
VALGRIND_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
valgrind: $(UNIT_BIN)
	@VALGRIND=1 UNIT_JOBS=$(VALGRIND_JOBS) tests/run-all.sh "$(B)" unit

## bench: the suite of docs/bench.md against the FUSE floor, tmpfs, RocksDB, FTS5 and grep (BENCH_QUICK=1: 3 min)
bench: all $(BENCH_BIN)
	@tests/bench/run.sh "$(B)"

# Reliability suites (issue 7): short forms by default, CI runs them.
CRASH_CYCLES   ?= 10
FSX_OPS        ?= 20000
STRESS_SECONDS ?= 10
FUZZ_SECONDS   ?= 30
.PHONY: crash fsx stress fuzz tsan

## crash: SIGKILL the daemon at random points of a mixed workload (CRASH_CYCLES=30 for the full run)
crash: all
	@tests/crash/crash.sh -b "$(B)" -n $(CRASH_CYCLES)

## fsx: fsx-style exerciser and fio verify jobs on episodes/ (FSX_OPS=100000 for the full run)
fsx: all
	@tests/fsx/run.sh -b "$(B)" -n $(FSX_OPS)

## stress: 8 writers, 8 recallers and consolidation at once (STRESS_SECONDS=60 for the full run)
stress: all
	@tests/stress/stress.sh -b "$(B)" -t $(STRESS_SECONDS)

## fuzz: libFuzzer targets (clang), each for FUZZ_SECONDS
fuzz:
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

## tsan: the unit tests built with ThreadSanitizer (TSAN_UNITS="test_concurrency ...": only those)
TSAN_UNITS ?=
tsan:
	@$(MAKE) --no-print-directory B=build/tsan SANITIZE=thread CFLAGS="-O1 -g $(ASAN_NOWARN)" units
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/stress/tsan.supp" \
	    UNITS="$(TSAN_UNITS)" tests/run-all.sh build/tsan unit

## eval: recall and concept quality against SQLite FTS5 (EVAL_QUICK=1: small)
eval: all
	@tests/eval/run.sh "$(B)"

## install: binaries, units, man pages, config, monitoring assets, docs under PREFIX (DESTDIR)
# The units name /usr/local/bin (the default PREFIX): install rewrites that.
# /etc/engramfs/example.conf is written only when missing: make install
# never overwrites a file under /etc.  No mount.fuse.engramfs helper: for
# fstab type fuse.engramfs, mount(8) runs /sbin/mount.fuse (fuse3), which
# runs `engramfs DATADIR MNT -o OPTS` from /bin/sh's default PATH (both
# /usr/local/bin and /usr/bin are on it); a helper named
# mount.fuse.engramfs would get mount(8)'s arguments (-t ...), which the
# daemon refuses.
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
LIBEXECDIR ?= $(PREFIX)/libexec/engramfs
DOCDIR     ?= $(PREFIX)/share/doc/engramfs
MANDIR     ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
INST_UNITS := $(wildcard systemd/*.service systemd/*.timer)
UNIT_SED   := -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' \
              -e 's|/usr/local/libexec/engramfs/|$(LIBEXECDIR)/|g'
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBEXECDIR) \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(DOCDIR)/monitoring $(DESTDIR)$(DOCDIR)/examples \
	    $(DESTDIR)$(SYSCONFDIR)/engramfs
	install -m 755 $(DAEMON) $(DESTDIR)$(PREFIX)/bin/engramfs
	if [ -x $(B)/engramctl ]; then \
	    install -m 755 $(B)/engramctl $(DESTDIR)$(PREFIX)/bin/engramctl; fi
	install -m 755 config/monitoring/engramfs-textfile.sh \
	    $(DESTDIR)$(LIBEXECDIR)/engramfs-textfile
	for u in $(INST_UNITS); do \
	    sed $(UNIT_SED) $$u >$(DESTDIR)$(UNITDIR)/$${u##*/} && \
	    chmod 644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; done
	install -m 644 docs/engramfs.8 $(DESTDIR)$(MANDIR)/man8/
	if [ -f docs/engramctl.1 ]; then install -d $(DESTDIR)$(MANDIR)/man1 && \
	    install -m 644 docs/engramctl.1 $(DESTDIR)$(MANDIR)/man1/; fi
	if [ -f ctl/engramctl.bash-completion ]; then install -d $(DESTDIR)$(BASHCOMPDIR) && \
	    install -m 644 ctl/engramctl.bash-completion $(DESTDIR)$(BASHCOMPDIR)/engramctl; fi
	install -m 644 README.md docs/*.md config/*.conf $(DESTDIR)$(DOCDIR)/
	install -m 644 config/monitoring/*.yml config/monitoring/*.json \
	    config/monitoring/*.md $(DESTDIR)$(DOCDIR)/monitoring/
	install -m 755 mnt-examples/*.sh $(DESTDIR)$(DOCDIR)/examples/
	install -d $(DESTDIR)$(PREFIX)/share/engramfs/scenarios
	install -m 644 config/scenarios/*.conf \
	    $(DESTDIR)$(PREFIX)/share/engramfs/scenarios/
	[ -e $(DESTDIR)$(SYSCONFDIR)/engramfs/example.conf ] || \
	    install -m 644 config/production.conf \
	    $(DESTDIR)$(SYSCONFDIR)/engramfs/example.conf
	l=$(DESTDIR)$(PREFIX)/sbin/mount.fuse.engramfs; \
	    if [ -L $$l ] && [ "$$(readlink $$l)" = ../bin/engramfs ]; then rm -f $$l; fi

## uninstall: remove what install placed (not /etc/engramfs, not the data)
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/engramfs $(DESTDIR)$(PREFIX)/bin/engramctl \
	    $(DESTDIR)$(LIBEXECDIR)/engramfs-textfile \
	    $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(INST_UNITS))) \
	    $(DESTDIR)$(MANDIR)/man8/engramfs.8 $(DESTDIR)$(MANDIR)/man1/engramctl.1 \
	    $(DESTDIR)$(BASHCOMPDIR)/engramctl
	case "$(DOCDIR)" in */engramfs) rm -rf -- "$(DESTDIR)$(DOCDIR)" ;; esac
	rm -rf -- "$(DESTDIR)$(PREFIX)/share/engramfs"
	rmdir $(DESTDIR)$(LIBEXECDIR) 2>/dev/null || true
.PHONY: uninstall

format:
	clang-format -i store/*.[ch] fs/*.[ch] ctl/*.[ch] tests/unit/*.[ch] tests/bench/*.c

lint:
	cppcheck --quiet --enable=warning,performance --std=c11 store fs ctl

clean:
	rm -rf build

## help: this list
help:
	@grep -E '^## ' Makefile | sed 's/^## /  make /'

-include $(STORE_OBJ:.o=.d) $(FS_OBJ:.o=.d) $(CTL_OBJ:.o=.d)
