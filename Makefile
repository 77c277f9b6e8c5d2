# pgbatchd: build the daemon, its sanitizer twin, the tests, the demo and the bench.

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
SHAREDIR ?= $(PREFIX)/share/pgbatchd
MANDIR   ?= $(PREFIX)/share/man
DESTDIR  ?=
PYTHON   ?= /usr/bin/python3

CC      ?= cc
CFLAGS  ?= -O2 -g
# The release build is optimized across files: the row path crosses modules a
# few bytes at a time (buffer appends, keyword tests, the lexer under the
# parser). LTO= builds without.
LTO     ?= -flto=auto
PKGS     = libevent openssl libpq
# Evaluated lazily: on a fresh machine `make test` installs the packages first.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN     = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
BASE     = -std=c11 -D_GNU_SOURCE $(WARN) -I. $(PKG_CFLAGS) -MMD -MP
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=all -O1 -g

# protocol/ and conf/ are pure; proxy/ and sink/ hold the daemon. Everything but
# main.c goes into a library that the unit tests link too.
LIB_SRC  = $(sort $(wildcard common/*.c protocol/*.c conf/*.c sink/*.c) $(filter-out proxy/main.c,$(wildcard proxy/*.c)))
UNIT_SRC = $(sort $(wildcard tests/unit/test_*.c))
UNITS    = $(patsubst tests/unit/%.c,%,$(UNIT_SRC))

REL_OBJ  = $(patsubst %.c,build/rel/%.o,$(LIB_SRC))
ASAN_OBJ = $(patsubst %.c,build/asan/%.o,$(LIB_SRC))

.PHONY: all asan units test check-unit check-integration citus-test check-callgrind check-structure demo demo-proxy bench crash-trials clean install deps help \
        record-trace record-traces fuzz fuzz-smoke docker-test

# libFuzzer targets (clang): the parsers that read what a client sends.
FUZZ_CC      = clang
FUZZ_TARGETS = reader startup scram insert config binval
FUZZ_FLAGS   = -std=c11 -D_GNU_SOURCE -I. $(PKG_CFLAGS) -g -O1 -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_SRC     = $(sort $(wildcard common/*.c protocol/*.c conf/*.c))
FUZZ_OBJ     = $(patsubst %.c,build/fuzz/%.o,$(FUZZ_SRC))
FUZZ_BINS    = $(patsubst %,build/fuzz/fuzz_%,$(FUZZ_TARGETS))
FUZZ_SECONDS ?= 10
.DEFAULT_GOAL := all

all: pgbatchd

help:
	@echo "make            build ./pgbatchd"
	@echo "make test       install missing packages, build, run unit + integration tests (also under ASan/UBSan)"
	@echo "make demo       throwaway PostgreSQL + pgbatchd + the seed's scenario"
	@echo "make bench      throughput ratios against direct PostgreSQL and PgBouncer"
	@echo "make docker-test  the compose stack (docker/) under podman: seed scenario, SIGTERM, scale profile"
	@echo "make crash-trials  ackmode=spool: 50 kill -9s under a 16-client stream (SPOOL_TRIALS=n)"
	@echo "make fuzz       build the libFuzzer targets (tests/fuzz); make fuzz-smoke runs each briefly"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)"
	@echo "make record-trace NAME=n SETUP='sql' TABLE='t opt=v' EXPECT='select' CLIENT='cmd {port}'"
	@echo "                record one client's conversation as tests/replay/traces/NAME.trace"
	@echo "make record-traces  record every trace of tests/replay anew"

deps:
	@scripts/deps.sh

# Replay traces (tests/replay/README.md): one client program, run through a
# recording relay in front of a throwaway PostgreSQL.
record-trace: deps
	@test -n "$(NAME)" -a -n "$(EXPECT)" -a -n "$(CLIENT)" || \
		{ echo "usage: make record-trace NAME=n SETUP='sql' TABLE='t opt=v' EXPECT='select' CLIENT='cmd {port}'"; exit 2; }
	$(PYTHON) tests/replay/record.py --name "$(NAME)" $(if $(SETUP),--setup "$(SETUP)") \
		$(if $(TABLE),--table "$(TABLE)") --expect "$(EXPECT)" -- $(CLIENT)

record-traces: deps
	tests/replay/record_all.sh

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) $(LTO) -c $< -o $@

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(SANFLAGS) -c $< -o $@

build/rel/libpgbatchd.a: $(REL_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/asan/libpgbatchd.a: $(ASAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

pgbatchd: build/rel/proxy/main.o build/rel/libpgbatchd.a
	$(CC) $(CFLAGS) $(LTO) -o $@ $^ $(PKG_LIBS) -lm

build/asan/pgbatchd: build/asan/proxy/main.o build/asan/libpgbatchd.a
	$(CC) $(SANFLAGS) -o $@ $^ $(PKG_LIBS) -lm

asan: build/asan/pgbatchd

# Unit tests run with the sanitizers on. libpg_query is the recognizer's oracle.
build/asan/tests/%: tests/unit/%.c build/asan/libpgbatchd.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(SANFLAGS) -o $@ $< build/asan/libpgbatchd.a $(PKG_LIBS) -lcmocka -lpg_query -lm

units: $(patsubst %,build/asan/tests/%,$(UNITS))

check-unit: units
	@set -e; for t in $(UNITS); do echo "== $$t"; build/asan/tests/$$t; done

# The seams of the tree (file sizes, includes, the reply queue's and the
# interception session's boundaries), and a self-test that breaks each once.
check-structure:
	scripts/structure.sh
	scripts/structure.sh --self-test

# Integration tests: a real PostgreSQL 15 per test module, real clients.
# PGBATCHD selects the binary; by default the ASan build, then the release build.
check-integration: pgbatchd asan
	PGBATCHD=$(CURDIR)/build/asan/pgbatchd $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration \
		--ignore=tests/integration/citus $(PYTEST_ARGS)

# pgbatchd in front of a Citus coordinator with two workers (issue 22): Citus
# is built from the vendored tarball and installed first (scripts/citus.sh).
# CITUS_DEADLOCK_ROWS: the 16-writer stream's rows (issue 22 asks 100,000;
# fewer make a quicker local run).
CITUS_DEADLOCK_ROWS ?= 100000
citus-test: deps
	scripts/citus.sh
	$(MAKE) asan
	CITUS_DEADLOCK_ROWS=$(CITUS_DEADLOCK_ROWS) PGBATCHD=$(CURDIR)/build/asan/pgbatchd $(PYTHON) -m pytest -q \
		-p no:cacheprovider tests/integration/citus $(PYTEST_ARGS)

test: deps
	$(MAKE) check-structure
	$(MAKE) all asan units
	$(MAKE) check-unit
	$(MAKE) fuzz-smoke
	$(MAKE) check-integration
	$(MAKE) check-callgrind

# ackmode=spool's long trial: pgbatchd killed with SIGKILL in a 16-client
# stream and started again on its spool, SPOOL_TRIALS times (make test runs 2).
SPOOL_TRIALS ?= 50
crash-trials: deps
	$(MAKE) asan
	SPOOL_TRIALS=$(SPOOL_TRIALS) PGBATCHD=$(CURDIR)/build/asan/pgbatchd $(PYTHON) -m pytest -q -p no:cacheprovider \
		tests/integration/test_spool.py -k test_kill9_stream

# Instructions per intercepted row under callgrind (release build): a
# regression guard, and no growth with the units a session has buffered.
check-callgrind: pgbatchd
	PGBATCHD=$(CURDIR)/pgbatchd tests/bench/callgrind_guard.sh

# The compose stack of docker/ under podman and podman-compose, on locally
# built stand-ins for debian:bookworm-slim and postgres:15 (no registry here).
docker-test: deps
	scripts/docker-test.sh

# The seed's scenario (datagen -> pgbatchd -> test_adbpg_table); demo-proxy is a
# plain psql session through the pass-through proxy.
demo: deps
	$(MAKE) all
	scripts/demo_sink.sh

demo-proxy: deps
	$(MAKE) all
	scripts/demo.sh

bench: deps
	$(MAKE) all
	tests/bench/bench.sh

fuzz: $(FUZZ_BINS)

build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(PKG_LIBS)

# Each target runs FUZZ_SECONDS from its seed corpus (tests/fuzz/corpus/NAME,
# copied: what libFuzzer adds stays in build/). Any crash fails the run.
fuzz-smoke: deps fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
		rm -rf build/fuzz/corpus-$$t; mkdir -p build/fuzz/corpus-$$t; \
		cp tests/fuzz/corpus/$$t/* build/fuzz/corpus-$$t/; \
		echo "== fuzz_$$t ($(FUZZ_SECONDS) s)"; \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 -artifact_prefix=build/fuzz/crash-$$t- build/fuzz/corpus-$$t 2>build/fuzz/$$t.log \
			|| { tail -60 build/fuzz/$$t.log; exit 1; }; \
		grep -E "stat::number_of_executed_units|stat::peak_rss_mb" build/fuzz/$$t.log | tr '\n' ' '; echo; \
	done

install: pgbatchd
	install -D -m 0755 pgbatchd $(DESTDIR)$(BINDIR)/pgbatchd
	install -D -m 0644 conf/pgbatchd.ini $(DESTDIR)$(SHAREDIR)/pgbatchd.ini
	install -D -m 0644 conf/userlist.txt $(DESTDIR)$(SHAREDIR)/userlist.txt
	install -D -m 0644 docs/pgbatchd.1 $(DESTDIR)$(MANDIR)/man1/pgbatchd.1

clean:
	rm -rf build pgbatchd

-include $(shell find build -name '*.d' 2>/dev/null)
