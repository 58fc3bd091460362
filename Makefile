# Haink - one non-recursive Makefile.
#
#   make            build build/bin/haink-api and build/bin/haink-worker
#   make test       every stage (unit, integration, end-to-end, browser, deploy checks)
#   make demo       the whole system locally, offline mode without API keys
#   make bench      the benchmark tables
#   make SANITIZE=address,undefined test   the same under ASan/UBSan (build/san)
#
# Objects go under $(B); every .c gets a -MMD dependency file; a flags stamp
# rebuilds everything when CFLAGS/LDFLAGS change.

CC ?= cc
SANITIZE ?=
# B: the build directory (override to keep parallel builds apart: make B=build/mine)
ifeq ($(SANITIZE),)
B ?= build
else
B ?= build/san
endif

HIREDIS_SSL := $(shell pkg-config --exists hiredis_ssl 2>/dev/null && echo 1)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wwrite-strings -Wvla -Wno-unused-parameter
OPT ?= -O2 -g
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null || echo -I/usr/include/$$($(CC) -print-multiarch)/openblas-pthread)
# worker headers are included by folder: #include "queue/runtime.h"
CPPFLAGS += -D_GNU_SOURCE -Icommon -Iapi -Iworker $(BLAS_CFLAGS)
CFLAGS ?=
CFLAGS += -std=c11 $(OPT) $(WARN) -pthread -fno-strict-aliasing
ifneq ($(HIREDIS_SSL),)
CPPFLAGS += -DHAINK_HAVE_HIREDIS_SSL
SSL_LIBS := -lhiredis_ssl
endif
ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif
LIBS := -lcivetweb $(SSL_LIBS) -lhiredis -ljansson -lcurl -lssl -lcrypto \
	-lcmark-gfm-extensions -lcmark-gfm -lpthread -lm -ldl
# OpenBLAS only for the benchmark's reference row (the index itself is plain C)
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)

COMMON_SRC := $(wildcard common/*.c)
API_SRC := $(filter-out api/main.c,$(wildcard api/*.c))
# worker/ capability folders (docs/architecture.md has the map); main.c only dispatches
WORKER_DIRS := queue agent kb memory slack admin
WORKER_SRC := $(foreach d,$(WORKER_DIRS),$(wildcard worker/$(d)/*.c))
UNIT_SRC := $(wildcard tests/unit/*.c)
HARNESS_SRC := tests/harness/test.c tests/harness/redis_fixture.c
ITEST_SRC := $(wildcard tests/integration/*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)
BENCH_SRC := $(wildcard bench/*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
# the Dev UI page, embedded in the API as a C string generated from api/ui_page.html
UI_PAGE_C := $(B)/gen/ui_page.c
UI_PAGE_O := $(B)/obj/gen/ui_page.o
API_OBJ := $(call obj,$(API_SRC)) $(UI_PAGE_O)
LIBCOMMON := $(B)/lib/libcommon.a
API_BIN := $(B)/bin/haink-api
WORKER_BIN := $(B)/bin/haink-worker
UNIT_BIN := $(B)/bin/unit-tests
ITEST_BIN := $(B)/bin/integration-tests
TOOL_BINS := $(patsubst tests/tools/%.c,$(B)/bin/%,$(TOOL_SRC))
BENCH_BINS := $(patsubst bench/%.c,$(B)/bin/%,$(BENCH_SRC))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(B)/bin/%,$(FUZZ_SRC))

ALL_SRC := $(COMMON_SRC) $(API_SRC) api/main.c $(WORKER_SRC) worker/main.c $(UNIT_SRC) \
	$(HARNESS_SRC) $(ITEST_SRC) $(TOOL_SRC) $(BENCH_SRC) $(FUZZ_SRC)

.PHONY: all deps test test-qe test-core unit integration e2e browser check-deploy check-trixie soak fuzz fuzz-bins \
	demo demo-stop bench clean \
	format format-check install valgrind FORCE
.DEFAULT_GOAL := all

all: deps $(API_BIN) $(WORKER_BIN) $(TOOL_BINS)

# Installs the Debian packages the build and tests need, only when missing.
deps:
	@sh tests/tools/deps.sh

# The flags stamp: rewritten only when the flags differ, so objects rebuild then.
$(B)/.flags: FORCE
	@mkdir -p $(B)
	@echo '$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(LIBS)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

# Under -j the Debian packages must be in place before anything compiles;
# `make install` (the images' build command) installs nothing (the Dockerfile
# installs the build packages itself).
ifneq ($(MAKECMDGOALS),install)
DEPS_FIRST := deps
endif
$(B)/obj/%.o: %.c $(B)/.flags | $(DEPS_FIRST)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBCOMMON): $(call obj,$(COMMON_SRC))
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

# each line becomes a string literal: \ and " escaped, and ? too (no trigraphs under -std=c11)
$(UI_PAGE_C): api/ui_page.html
	@mkdir -p $(dir $@)
	@{ echo '/* generated from api/ui_page.html by the Makefile; edit that file */'; \
	  echo '#include "common.h"'; echo '#include "ui.h"'; \
	  echo 'const char ui_page_html[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@.tmp && mv $@.tmp $@

$(UI_PAGE_O): $(UI_PAGE_C) $(B)/.flags | $(DEPS_FIRST)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(API_BIN): $(call obj,api/main.c) $(API_OBJ) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $(call obj,api/main.c) $(API_OBJ) $(LIBCOMMON) $(LIBS)

$(WORKER_BIN): $(call obj,worker/main.c $(WORKER_SRC)) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $(call obj,worker/main.c $(WORKER_SRC)) $(LIBCOMMON) $(LIBS)

$(UNIT_BIN): $(call obj,$(UNIT_SRC) $(HARNESS_SRC) $(WORKER_SRC)) $(API_OBJ) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LIBS)

$(ITEST_BIN): $(call obj,$(ITEST_SRC) $(HARNESS_SRC) $(WORKER_SRC)) $(API_OBJ) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LIBS)

$(B)/bin/%: $(B)/obj/tests/tools/%.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LIBS)

$(B)/bin/%: $(B)/obj/bench/%.o $(API_OBJ) $(call obj,$(WORKER_SRC)) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LIBS) $(BLAS_LIBS)

# --- tests ----------------------------------------------------------------
# Each stage ends with a line "N passed, N failed"; tests/tools/stages.sh runs
# them all and ends with the aggregated line.
STAGE_ENV := BUILD_DIR=$(B) SANITIZE=$(SANITIZE)

test: all $(UNIT_BIN) $(ITEST_BIN)
	@$(STAGE_ENV) bash tests/tools/stages.sh unit redis qe integration e2e qe-e2e browser check-deploy

# Every stage that runs our code (not the deploy checks): what CI repeats under sanitizers.
# HAINK_QE_MODULE=/path/redisearch.so [HAINK_QE_SERVER=/path/redis-server] make test-qe
test-qe: all $(ITEST_BIN)
	@$(STAGE_ENV) bash tests/tools/stages.sh qe qe-e2e

test-core: all $(UNIT_BIN) $(ITEST_BIN)
	@$(STAGE_ENV) bash tests/tools/stages.sh unit redis integration e2e

unit: all $(UNIT_BIN)
	@$(STAGE_ENV) bash tests/tools/stages.sh unit

integration: all $(ITEST_BIN)
	@$(STAGE_ENV) bash tests/tools/stages.sh redis integration

e2e: all
	@$(STAGE_ENV) bash tests/tools/stages.sh e2e

# The Dev UI in headless Chromium (installs Debian's chromium when missing).
browser: all
	@$(STAGE_ENV) bash tests/tools/stages.sh browser

# needs the binaries: it runs each service's command with --check-config
check-deploy: all
	@$(STAGE_ENV) bash tests/tools/stages.sh check-deploy

# The production base: the Dockerfiles' build and runtime stages in debootstrap'd
# Debian 13 roots, health checks as the image user, suites on Redis 8 and Valkey 8.
check-trixie:
	@bash tests/trixie/check.sh

# The real binaries under kill -9s, a Redis restart, LLM 5xx and Slack 429 bursts:
# every question answered exactly once. SOAK_QUESTIONS=500 by default; CI runs 100.
SOAK_QUESTIONS ?= 500
soak: all
	@BUILD_DIR=$(B) SOAK_QUESTIONS=$(SOAK_QUESTIONS) python3 tests/soak/soak.py

# libFuzzer harnesses (tests/fuzz/) for every parser of outside input, built with
# clang under ASan/UBSan in build/fuzz; each runs FUZZ_SECONDS (default 20).
$(B)/bin/fuzz_%: $(B)/obj/tests/fuzz/fuzz_%.o $(API_OBJ) $(call obj,$(WORKER_SRC)) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -pthread -o $@ $^ $(LIBS)

fuzz-bins: $(FUZZ_BINS)

fuzz:
	@sh tests/fuzz/run.sh

# The unit suite under valgrind: any leak or error fails.
valgrind: all $(UNIT_BIN)
	valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect -q $(UNIT_BIN)

demo:
	@$(MAKE) -s -j$$(nproc) all
	@sh tests/tools/demo.sh start

demo-stop:
	@sh tests/tools/demo.sh stop

bench: all $(BENCH_BINS)
	@BUILD_DIR=$(B) sh bench/run.sh

PREFIX ?= /usr/local
install: $(API_BIN) $(WORKER_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(API_BIN) $(WORKER_BIN) $(DESTDIR)$(PREFIX)/bin/

FORMAT_SRC = $(filter-out %/banned.h,$(wildcard common/*.[ch] api/*.[ch] worker/*.[ch] $(WORKER_DIRS:%=worker/%/*.[ch]) tests/unit/*.c tests/harness/*.[ch] tests/integration/*.c tests/tools/*.c bench/*.c tests/fuzz/*.[ch]))
format:
	clang-format -i $(FORMAT_SRC)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC) && echo "format ok"

clean:
	rm -rf build

-include $(patsubst %.c,$(B)/obj/%.d,$(ALL_SRC)) $(UI_PAGE_O:.o=.d)
