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
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
BENCH_BIN := $(B)/tests/bench/floorfs $(B)/tests/bench/benchclient

LIB       := $(B)/libengram.a
DAEMON    := $(B)/engramfs

# make run: where the default store lives
DATA     ?= $(CURDIR)/data
MNT      ?= $(CURDIR)/mnt
RUN_CONF ?= $(CURDIR)/config/development.conf

.PHONY: all deps run stop test units unit e2e asan valgrind bench install clean help format lint

all: $(DAEMON)

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
	@$(MAKE) --no-print-directory B=build/asan SANITIZE=address,undefined CFLAGS="-O1 -g" test

## valgrind: unit tests under valgrind, zero errors and leaks
valgrind: $(UNIT_BIN)
	@VALGRIND=1 tests/run-all.sh "$(B)" unit

## bench: ingest, read, recall and mount benchmarks against a FUSE floor
bench: all $(BENCH_BIN)
	@tests/bench/run.sh "$(B)"

## install: binaries, man pages, units and config examples under PREFIX
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/doc/engramfs $(DESTDIR)$(PREFIX)/sbin
	install -m 755 $(DAEMON) $(DESTDIR)$(PREFIX)/bin/engramfs
	ln -sf ../bin/engramfs $(DESTDIR)$(PREFIX)/sbin/mount.fuse.engramfs 2>/dev/null || true
	install -m 644 docs/engramfs.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 config/*.conf $(DESTDIR)$(PREFIX)/share/doc/engramfs/

format:
	clang-format -i store/*.[ch] fs/*.[ch] tests/unit/*.[ch] tests/bench/*.c

lint:
	cppcheck --quiet --enable=warning,performance --std=c11 store fs

clean:
	rm -rf build

## help: this list
help:
	@grep -E '^## ' Makefile | sed 's/^## /  make /'

-include $(STORE_OBJ:.o=.d) $(FS_OBJ:.o=.d)
