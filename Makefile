# pg_rollout: PGXS build, tests, demo and bench.
#
#   make            build the library and the install script
#   make install    install into the PostgreSQL found by pg_config
#   make test       set up a fresh machine, build, install, run every suite
#   make demo       set up, build, install, run the demo against a throwaway instance
#   make bench      set up, build, install, print throughput ratios
#   make sim        set up, build, install, simulate every default preset (long:
#                   see docs/statistics.md; SIM_RUNS_AA, SIM_RUNS_REG, SIM_OUT)
#   make fuzz       build the libFuzzer harnesses and run each FUZZ_SECONDS (clang);
#                   make test runs FUZZ_TEST_RUNS inputs of each from a fixed seed (suite "fuzz")
#
# Test subsets for development: make test SUITES="regress isolation tap fuzz"
#   REGRESS="registry stats_vectors" ISOLATION="registry_concurrency" PROVE_TESTS="test/t/001_preload.pl"

EXTENSION = pg_rollout
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" pg_rollout.control)

# PostgreSQL 15 (what Debian 12 ships) unless PG_CONFIG names another.
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) $(shell command -v pg_config 2>/dev/null) /usr/lib/postgresql/15/bin/pg_config)

MODULE_big = pg_rollout
SRCS = $(sort $(wildcard src/*.c))
OBJS = $(SRCS:.c=.o)
ROLLOUT_HEADERS = $(wildcard src/*.h)

SQL_PIECES = $(sort $(wildcard src/sql/*.sql))
DATA_built = sql_build/$(EXTENSION)--$(EXTVERSION).sql
# Install scripts of earlier releases (kept verbatim) and the upgrade scripts
# between releases: every schema change ships its pg_rollout--A--B.sql.
DATA = $(sort $(wildcard upgrade/$(EXTENSION)--*.sql))
EXTRA_CLEAN = sql_build results output_iso tmp_check tmp_check_iso log regression.diffs regression.out

DEPS_PKGS = jansson gsl libxxhash
PKG_CFLAGS := $(shell pkg-config --cflags $(DEPS_PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(DEPS_PKGS) 2>/dev/null)

PG_CPPFLAGS = -I$(srcdir)/src $(PKG_CFLAGS)
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers -Wno-clobbered
SHLIB_LINK = $(PKG_LIBS)

# Test suites; names come from the files so adding a test needs no edit here.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
PROVE_TESTS ?= $(sort $(wildcard test/t/*.pl))
SUITES ?= regress isolation tap sim fuzz
# Seconds per target of the fuzz suite (make fuzz runs FUZZ_SECONDS).
FUZZ_TEST_SECONDS ?= 120

# Empty until postgresql-server-dev is installed (pg_config alone comes with the client).
PGXS := $(wildcard $(shell $(PG_CONFIG) --pgxs 2>/dev/null))
ifeq ($(PGXS),)
# PGXS is not there yet: the set-up targets install it, then run again.
all install test demo bench sim fuzz:
	@bash test/setup.sh
	@$(MAKE) --no-print-directory $(MAKECMDGOALS) PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
else
include $(PGXS)

$(OBJS): $(ROLLOUT_HEADERS)

$(DATA_built): $(SQL_PIECES) pg_rollout.control
	@mkdir -p sql_build
	cat $(SQL_PIECES) > $@

.PHONY: setup test demo bench sim installcheck-suites

setup:
	@bash test/setup.sh

# make test: install what is missing, build, install, run every suite as an
# unprivileged OS user against temporary instances.
test: setup
	$(MAKE) all
	@FUZZ_TEST_SECONDS="$(FUZZ_TEST_SECONDS)" FUZZ_CC="$(FUZZ_CC)" \
		bash test/run_suites.sh "$(PG_CONFIG)" "$(SUITES)" "$(REGRESS)" "$(ISOLATION)" "$(PROVE_TESTS)"

demo: setup
	$(MAKE) all
	@bash test/demo.sh "$(PG_CONFIG)"

bench: setup
	$(MAKE) all
	@bash test/bench/run.sh "$(PG_CONFIG)"

# make sim: the full simulation of the default presets (make test runs a
# reduced one); prints the table and writes summary.csv.
sim: setup
	$(MAKE) all
	@SIM_MODE=full bash test/run_suites.sh "$(PG_CONFIG)" "sim" "" "" ""
# make fuzz: libFuzzer harnesses (test/fuzz) that need no server, each run for
# FUZZ_SECONDS by test/fuzz/run.sh from the committed seeds
# (test/fuzz/seeds/<target>); new inputs go to $(FUZZ_WORK)/corpus_<target>.
# The fuzz suite of make test builds and runs them in a fresh directory,
# FUZZ_TEST_RUNS inputs each from a fixed seed (test/run_suites.sh), at most
# FUZZ_TEST_SECONDS. make fuzz-build only builds them.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_WORK ?= /tmp/pg_rollout_fuzz
FUZZ_TARGETS ?= ddsketch pin plan canonical
FUZZ_SRC_ddsketch = src/sketch_ddsketch.c
FUZZ_SRC_pin = src/route_pin.c
FUZZ_SRC_plan = src/plan.c src/plan_util.c src/plan_parts.c src/plan_gates.c src/plan_blackout.c \
	test/fuzz/pgstub_datetime.c
FUZZ_SRC_canonical = src/registry.c test/fuzz/pgstub_jsonb.c
FUZZ_CFLAGS = -g -O1 -fwrapv -fno-strict-aliasing -Wno-ignored-attributes -fno-pic -no-pie \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Isrc -Itest/fuzz -I$(shell $(PG_CONFIG) --includedir-server) $(PKG_CFLAGS)
# jansson for the plan parser; libpgport for what the backend takes from it
# (pg_snprintf, strlcpy, pg_strcasecmp).
FUZZ_LIBS = -lm $(shell pkg-config --libs jansson 2>/dev/null) \
	-L$(shell $(PG_CONFIG) --pkglibdir) -lpgport

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_WORK)/fuzz_%)

fuzz: setup
	@$(MAKE) --no-print-directory fuzz-build
	@bash test/fuzz/run.sh $(FUZZ_WORK) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Backend symbols the harness never reaches stay unresolved (test/fuzz/pgstub.c).
$(FUZZ_WORK)/fuzz_%: test/fuzz/fuzz_%.c $(wildcard test/fuzz/pgstub*.c) test/fuzz/pgstub.h $(ROLLOUT_HEADERS) $(SRCS)
	@mkdir -p $(FUZZ_WORK)
	$(FUZZ_CC) $(FUZZ_CFLAGS) test/fuzz/fuzz_$*.c test/fuzz/pgstub.c $(FUZZ_SRC_$*) \
		-o $@ $(FUZZ_LIBS) -Wl,--unresolved-symbols=ignore-all
endif
