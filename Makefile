# kcoro - top-level Makefile.
#
# One non-recursive make for core: it includes mk/*.mk and a small fragment per
# module that only appends to source lists. Labs build on their own through
# mk/lab.mk; the targets here drive them. `make help` lists the targets.

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
include $(TOP)/mk/config.mk

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
DESTDIR ?=
KC_VERSION := 0.1.0
KC_SOVER   := 0

LABS := $(patsubst $(TOP)/lab/%/Makefile,%,$(wildcard $(TOP)/lab/*/Makefile))

CORE_SRCS  :=
CORE_ASM   :=
CORE_TESTS :=
CORE_TESTS_FULL :=
CORE_BENCH :=
DEMO_SRCS  :=
include $(TOP)/mk/modules.mk
include $(TOP)/core/module.mk

# Only the files a graduated module declares join the library.
GRAD_SRCS := $(foreach m,$(GRAD_MODULES),$(call mod_src,$(m)))
LIB_OBJS  := $(patsubst $(TOP)/%.c,$(OUT)/obj/%.o,$(CORE_SRCS) $(GRAD_SRCS)) \
             $(patsubst $(TOP)/%.S,$(OUT)/obj/%.o,$(CORE_ASM))
LIB_A     := $(OUT)/lib/libkcoro.a
LIB_SO    := $(OUT)/lib/libkcoro.so.$(KC_VERSION)

# Link-time optimisation inside the library (flavours that set LIB_LTO,
# mk/config.mk): core's objects carry GCC's IR as well as machine code, and
# are first linked into one relocatable object that LTO optimises as a
# whole, so the layers of one channel operation (channel, waiter token,
# parker, worker) inline into each other. Programs linking the library see
# ordinary machine code and need no LTO of their own. The graduated
# modules stay separate members, so a lab that links its own copy of one
# never meets a second definition.
CORE_OBJS := $(patsubst $(TOP)/%.c,$(OUT)/obj/%.o,$(CORE_SRCS))
ifeq ($(LIB_LTO),1)
$(CORE_OBJS): private KC_CFLAGS += $(LIB_LTO_CFLAGS)
LIB_PARTS := $(OUT)/obj/kcoro_core.o $(filter-out $(CORE_OBJS),$(LIB_OBJS))
$(OUT)/obj/kcoro_core.o: $(CORE_OBJS)
	@$(if $(Q),echo "  LTO     $(@F)")
	$(Q)$(CC) -r $(LIB_LTO_CFLAGS) $(OPT_$(FLAVOR)) -fPIC -pthread \
		-flinker-output=nolto-rel -o $@ $^
else
LIB_PARTS := $(LIB_OBJS)
endif

# Tests, benchmarks and the demo compile against their own include views
# (core/tests/module.mk and core/bench/module.mk declare them).
TEST_OBJS  := $(patsubst %,$(OUT)/obj/core/tests/test_%.o,$(CORE_TESTS) $(CORE_TESTS_FULL))
BENCH_OBJS := $(patsubst %,$(OUT)/obj/core/bench/bench_%.o,$(CORE_BENCH)) \
              $(OUT)/obj/core/bench/kc_bench_util.o
$(eval $(call mod_view_rules,tests,$(TEST_OBJS),,$(tests.uses)))
$(eval $(call mod_view_rules,bench,$(BENCH_OBJS),,$(bench.uses)))

TEST_BINS      := $(patsubst %,$(OUT)/tests/test_%,$(CORE_TESTS))
TEST_FULL_BINS := $(patsubst %,$(OUT)/tests/test_%,$(CORE_TESTS_FULL))
BENCH_BINS     := $(patsubst %,$(OUT)/bench/bench_%,$(CORE_BENCH))
DEMO_BIN       := $(OUT)/demo/kcoro_demo

include $(TOP)/adapters/tcp/module.mk
include $(TOP)/adapters/udp/module.mk

.DEFAULT_GOAL := all
.PHONY: all lib test test-core test-labs test-full bench bench-peers bench-count demo labs examples \
        fuzz fuzz-seeds install-tcp uninstall-tcp install-udp uninstall-udp graduate check-graduated \
        install uninstall \
        sanitize tsan valgrind valgrind-ipc \
        test-aarch64 lint verify relacy clean help deps-test

all: lib $(TCP_TARGETS) $(UDP_TARGETS) $(TEST_BINS) $(TCP_TEST_BINS) $(UDP_TEST_BINS) $(BENCH_BINS) \
     $(DEMO_BIN)

lib: $(LIB_A) $(LIB_SO)

$(LIB_A): $(LIB_PARTS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  AR      $(@F)")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIB_SO): $(LIB_PARTS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $(@F)")
	$(Q)$(CC) -shared -Wl,-soname,libkcoro.so.$(KC_SOVER) $(KC_LDFLAGS) \
		-o $@ $^ $(KC_LDLIBS)
	$(Q)ln -sf $(@F) $(OUT)/lib/libkcoro.so.$(KC_SOVER)
	$(Q)ln -sf $(@F) $(OUT)/lib/libkcoro.so

# Tests, benchmarks and the demo link the static library.
$(OUT)/tests/test_%: $(OUT)/obj/core/tests/test_%.o $(LIB_A)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    tests/$(@F)")
	$(Q)$(CC) $(KC_LDFLAGS) -o $@ $< $(LIB_A) -lcmocka $(KC_LDLIBS)

$(OUT)/bench/bench_%: $(OUT)/obj/core/bench/bench_%.o $(OUT)/obj/core/bench/kc_bench_util.o $(LIB_A)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    bench/$(@F)")
	$(Q)$(CC) $(KC_LDFLAGS) -o $@ $^ $(KC_LDLIBS)

$(DEMO_BIN): $(patsubst $(TOP)/%.c,$(OUT)/obj/%.o,$(DEMO_SRCS)) $(LIB_A)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    demo/$(@F)")
	$(Q)$(CC) $(KC_LDFLAGS) -o $@ $^ $(KC_LDLIBS)

# ---------------------------------------------------------------- tests
deps-test:
	$(Q)$(NEED_TESTS)

# `make test` runs core's tests and every lab's, then prints one total line.
# The library is built first, and core's and the labs' tests run one after
# the other (lab builds re-enter this Makefile for the library: two makes
# writing one archive at once would corrupt it).
test: deps-test
	$(Q)mkdir -p $(OUT)/tests && : > $(OUT)/tests/summary
	$(Q)$(MAKE) --no-print-directory lib
	$(Q)rc=0; \
	KC_SUMMARY=$(OUT)/tests/summary $(MAKE) --no-print-directory test-core || rc=1; \
	KC_SUMMARY=$(OUT)/tests/summary $(MAKE) --no-print-directory test-labs || rc=1; \
	awk '{p += $$1; f += $$2} END {printf "total: %d passed, %d failed\n", p, f}' \
		$(OUT)/tests/summary; exit $$rc

test-core: $(TEST_BINS) $(TCP_TEST_BINS) $(UDP_TEST_BINS)
	$(Q)$(TOP)/mk/run-tests.sh "$(RUN)" $(OUT)/tests/core.log $(TEST_BINS) $(TCP_TEST_BINS) \
		$(UDP_TEST_BINS)

test-labs: lib
	$(Q)rc=0; for l in $(LABS); do \
		$(MAKE) --no-print-directory -C $(TOP)/lab/$$l test FLAVOR=$(FLAVOR) || rc=1; \
	done; exit $$rc

test-full: deps-test $(TEST_BINS) $(TEST_FULL_BINS)
	$(Q)KCORO_TEST_FULL=1 $(TOP)/mk/run-tests.sh "$(RUN)" $(OUT)/tests/full.log \
		$(TEST_BINS) $(TEST_FULL_BINS)
	$(Q)KCORO_TEST_FULL=1 $(MAKE) --no-print-directory -C $(TOP)/lab/ipc_sim test FLAVOR=$(FLAVOR)
	$(Q)KCORO_TEST_FULL=1 $(MAKE) --no-print-directory -C $(TOP)/lab/mux test FLAVOR=$(FLAVOR)
	$(Q)KCORO_TEST_FULL=1 $(MAKE) --no-print-directory -C $(TOP)/lab/select test FLAVOR=$(FLAVOR)
	$(Q)$(MAKE) --no-print-directory relacy RELACY_ITERS=$(RELACY_FULL_ITERS)

sanitize:
	$(Q)$(MAKE) --no-print-directory test FLAVOR=asan

tsan:
	$(Q)KCORO_TEST_SCALE=$${KCORO_TEST_SCALE:-10} $(MAKE) --no-print-directory test FLAVOR=tsan

# Valgrind runs a representative subset (engine, parking, cancellation,
# scopes, scheduler, channels and select), at 1/100 of the big counts: the
# timer, I/O and stress suites measure or exhaust things Valgrind's own
# scheduler and address-space manager distort, and would take most of CI.
# The API-abuse tests (test_abuse_*) all run: they are short, and a leak on
# a bad-argument path is what they exist to catch.
# --fair-sched=try: Valgrind runs one guest thread at a time, and its default
# hand-over (a pipe) lets a thread that spins, a coroutine yielding in a loop
# until another worker runs, take the lock back again and again while the
# thread it waits for never runs; a ticket lock hands it over in turn.
VALGRIND ?= valgrind -q --fair-sched=try --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite
VALGRIND_TESTS ?= coro park cancel scope sched chan chan_wait select \
                  $(filter abuse_%,$(CORE_TESTS))
VALGRIND_BINS := $(patsubst %,$(OUT)/tests/test_%,$(VALGRIND_TESTS))

valgrind: deps-test
	$(Q)$(TOP)/mk/need.sh valgrind=/usr/bin/valgrind
	$(Q)$(MAKE) --no-print-directory $(VALGRIND_BINS)
	$(Q)KCORO_UNDER_VALGRIND=1 KCORO_TEST_SCALE=$${KCORO_TEST_SCALE:-100} $(TOP)/mk/run-tests.sh \
		"$(VALGRIND)" \
		$(OUT)/tests/valgrind.log $(VALGRIND_BINS)

# The IPC lab's RPC and fault tests (the storm included) under Valgrind, at
# 1/10 scale: CI runs them after make valgrind.
VALGRIND_IPC_BINS := $(patsubst %,$(OUT)/lab/ipc_posix_co/tests/test_%,rpc ipc_fault)

valgrind-ipc: deps-test
	$(Q)$(TOP)/mk/need.sh valgrind=/usr/bin/valgrind
	$(Q)$(MAKE) --no-print-directory -C $(TOP)/lab/ipc_posix_co all
	$(Q)KCORO_UNDER_VALGRIND=1 KCORO_TEST_SCALE=$${KCORO_TEST_SCALE:-10} $(TOP)/mk/run-tests.sh \
		"$(VALGRIND)" $(OUT)/lab/ipc_posix_co/tests/valgrind.log $(VALGRIND_IPC_BINS)

test-aarch64:
	$(Q)$(MAKE) --no-print-directory deps-test FLAVOR=aarch64
	$(Q)rc=0; $(MAKE) --no-print-directory test-core FLAVOR=aarch64 || rc=1; \
	$(MAKE) --no-print-directory test-labs FLAVOR=aarch64 || rc=1; exit $$rc

# ---------------------------------------------------------------- bench, demo
bench: $(BENCH_BINS)
	$(Q)$(TOP)/mk/run-bench.sh $(BUILD_ROOT)/bench "$(ONLY)" $(BENCH_BINS)

bench-peers: $(BENCH_BINS) $(COUNT_BIN)
	$(Q)ROUNDS="$(ROUNDS)" $(TOP)/core/bench/peers/run-peers.sh $(BUILD_ROOT)/bench "$(ONLY)" $(OUT)/bench

# Instructions per operation under callgrind (COUNT_N=N; figures: FIGS=...).
bench-count: $(COUNT_BIN) $(OUT)/bench/bench_ipc
	$(Q)$(TOP)/mk/count-ops.sh $(BUILD_ROOT)/bench $(COUNT_BIN) $(FIGS)

# libFuzzer over the wire codecs (FUZZ_SECONDS=60 or FUZZ_RUNS=N).
fuzz:
	$(Q)$(TOP)/mk/fuzz.sh $(BUILD_ROOT)/fuzz

fuzz-seeds:
	$(Q)$(TOP)/mk/fuzz.sh $(BUILD_ROOT)/fuzz seeds

demo: $(DEMO_BIN)
	$(Q)$(RUN) $(DEMO_BIN)

# ---------------------------------------------------------------- labs
labs: lib
	$(Q)set -e; for l in $(LABS); do \
		$(MAKE) --no-print-directory -C $(TOP)/lab/$$l FLAVOR=$(FLAVOR); done

graduate:
	$(Q)$(TOP)/mk/graduate.sh $(LAB)

check-graduated:
	$(Q)$(TOP)/mk/check-graduated.sh

verify:
	$(Q)set -e; for l in $(LABS); do \
		if grep -q '^verify:' $(TOP)/lab/$$l/Makefile $(TOP)/mk/lab.mk 2>/dev/null; then \
		$(MAKE) --no-print-directory -C $(TOP)/lab/$$l verify; fi; done
	$(Q)$(TOP)/core/model/verify.sh $(OUT)/core/model
	$(Q)$(MAKE) --no-print-directory relacy

# The lock-free algorithms under Relacy's C++11 memory model (core/relacy):
# every test must hold and every mutant be refuted. `make verify` runs
# RELACY_ITERS random schedules per scenario, `make test-full` the larger
# RELACY_FULL_ITERS; RELACY_ONLY=deque runs one test.
RELACY_ITERS ?= 50000
RELACY_FULL_ITERS ?= 1000000
relacy:
	$(Q)$(TOP)/mk/need.sh g++=/usr/bin/g++ relacy-dev=/usr/include/relacy/relacy.hpp
	$(Q)KC_RELACY_ITERS=$(RELACY_ITERS) $(TOP)/core/relacy/verify.sh $(OUT)/relacy $(RELACY_ONLY)

lint:
	$(Q)$(TOP)/mk/lint.sh

# ---------------------------------------------------------------- examples
# The tutorial's programs (core/docs/TUTORIAL.md), built against the library
# in the tree; CI builds them again against the installed one (.ci/run).
EXAMPLE_SRCS := $(wildcard $(TOP)/core/examples/*.c)
EXAMPLE_BINS := $(patsubst $(TOP)/core/examples/%.c,$(OUT)/examples/%,$(EXAMPLE_SRCS))
examples: $(EXAMPLE_BINS)
	$(Q)for e in $(EXAMPLE_BINS); do echo "== $$(basename $$e)"; $$e || exit 1; done
$(OUT)/examples/%: $(TOP)/core/examples/%.c $(LIB_A)
	@mkdir -p $(@D)
	$(Q)$(CC) -std=c11 -Wall -Wextra -Werror $(OPT_$(FLAVOR)) -I$(TOP)/core/include $< $(LIB_A) \
		$(KC_LDFLAGS) -lm -o $@

# ---------------------------------------------------------------- install
# The installed headers: core/include/MANIFEST (checked by `make lint`).
MANIFEST_HEADERS := $(shell sed -n 's/^\(kcoro[a-z_/]*\.h\).*/\1/p' $(TOP)/core/include/MANIFEST)
install: lib install-tools
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/kcoro
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libkcoro.so.$(KC_VERSION) $(DESTDIR)$(LIBDIR)/libkcoro.so.$(KC_SOVER)
	ln -sf libkcoro.so.$(KC_VERSION) $(DESTDIR)$(LIBDIR)/libkcoro.so
	install -m 644 $(TOP)/core/include/kcoro.h $(DESTDIR)$(INCDIR)/
	install -m 644 $(addprefix $(TOP)/core/include/,$(filter kcoro/%,$(MANIFEST_HEADERS))) \
		$(DESTDIR)$(INCDIR)/kcoro/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCDIR@|$(INCDIR)|g' -e 's|@VERSION@|$(KC_VERSION)|g' \
	    $(TOP)/core/kcoro.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/kcoro.pc
	$(Q)$(MAKE) --no-print-directory install-tcp
	$(Q)$(MAKE) --no-print-directory install-udp

uninstall: uninstall-tcp uninstall-udp
	rm -f $(DESTDIR)$(LIBDIR)/libkcoro.a $(DESTDIR)$(LIBDIR)/libkcoro.so*
	rm -f $(DESTDIR)$(LIBDIR)/pkgconfig/kcoro.pc $(DESTDIR)$(INCDIR)/kcoro.h
	rm -rf $(DESTDIR)$(INCDIR)/kcoro
	rm -f $(DESTDIR)$(PREFIX)/bin/kcoro-chanmon

clean:
	rm -rf $(BUILD_ROOT)

help:
	@echo "targets: all lib test test-full bench bench-peers bench-count fuzz demo examples labs graduate"
	@echo "         check-graduated install uninstall sanitize tsan valgrind"
	@echo "         test-aarch64 lint verify relacy clean tools test-tools"
	@echo "         (V=1 shows commands)"

-include $(shell find $(OUT)/obj -name '*.d' 2>/dev/null)

# One line per module for mk/check-layers.sh:
# name|dir|layer|srcs|services|uses|public
print-modules:
	@$(foreach m,$(MODULES),echo '$(m)|$($(m).dir)|$($(m).layer)|$(strip $($(m).srcs))|$(strip $($(m).services))|$(strip $($(m).uses))|$(strip $($(m).public))';)
.PHONY: print-modules
