# mk/lab.mk - the shared build of one lab (ARCHITECTURE.md section 3).
#
# A lab's Makefile sets LAB (and optionally LAB_LDLIBS) and includes this file.
# `make -C lab/<mod>` builds the explorer and the tests; `test` runs the tests,
# `run` runs the explorer, `bench` runs bench/*.c. Objects and binaries land in
# build/<flavour>/lab/<mod>/. Labs link libkcoro (built on demand) and see
# core's public headers plus their own src/.

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
FLAGS_STAMP = $(OUT)/.flags-lab-$(or $(LAB),$(notdir $(CURDIR)))
include $(TOP)/mk/config.mk

LAB       ?= $(notdir $(CURDIR))
LAB_DIR   := $(TOP)/lab/$(LAB)
LAB_OUT   := $(OUT)/lab/$(LAB)
LIB_A     := $(OUT)/lib/libkcoro.a
KC_CPPFLAGS += -I$(LAB_DIR)/src

obj = $(patsubst $(TOP)/%.c,$(OUT)/obj/%.o,$(1))

LAB_SRC_OBJS  := $(call obj,$(wildcard $(LAB_DIR)/src/*.c))
LAB_TEST_SRCS := $(wildcard $(LAB_DIR)/tests/test_*.c)
LAB_TEST_HELP := $(call obj,$(filter-out $(LAB_TEST_SRCS),$(wildcard $(LAB_DIR)/tests/*.c)))
LAB_TESTS     := $(patsubst $(LAB_DIR)/tests/%.c,$(LAB_OUT)/tests/%,$(LAB_TEST_SRCS))
LAB_BENCHES   := $(patsubst $(LAB_DIR)/bench/%.c,$(LAB_OUT)/bench/%,$(wildcard $(LAB_DIR)/bench/*.c))
LAB_EXPLORER  := $(LAB_OUT)/$(LAB)

.DEFAULT_GOAL := all
.PHONY: all test run bench libkcoro clean

all: $(LAB_EXPLORER) $(LAB_TESTS)

libkcoro:
	$(Q)$(MAKE) --no-print-directory -C $(TOP) lib FLAVOR=$(FLAVOR)

$(LIB_A): libkcoro

$(LAB_EXPLORER): $(call obj,$(LAB_DIR)/main.c) $(LAB_SRC_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    lab/$(LAB)/$(@F)")
	$(Q)$(CC) $(KC_LDFLAGS) -o $@ $^ $(LAB_LDLIBS) $(KC_LDLIBS)

$(LAB_OUT)/tests/%: $(OUT)/obj/lab/$(LAB)/tests/%.o $(LAB_TEST_HELP) $(LAB_SRC_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    lab/$(LAB)/tests/$(@F)")
	$(Q)$(CC) $(KC_LDFLAGS) -o $@ $^ -lcmocka $(LAB_LDLIBS) $(KC_LDLIBS)

# Lab benchmarks share core's BENCH reporting (core/bench/kc_bench_util.h).
$(OUT)/obj/lab/$(LAB)/bench/%.o: KC_CPPFLAGS += -I$(TOP)/core/bench

$(LAB_OUT)/bench/%: $(OUT)/obj/lab/$(LAB)/bench/%.o $(OUT)/obj/core/bench/kc_bench_util.o $(LAB_SRC_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    lab/$(LAB)/bench/$(@F)")
	$(Q)$(CC) $(KC_LDFLAGS) -o $@ $^ $(LAB_LDLIBS) $(KC_LDLIBS)

test: $(LAB_TESTS)
	@echo "  lab $(LAB):"
	$(Q)$(TOP)/mk/run-tests.sh "$(RUN)" $(LAB_OUT)/tests/lab.log $(LAB_TESTS)

run: $(LAB_EXPLORER)
	$(Q)$(RUN) $(LAB_EXPLORER) $(ARGS)

bench: $(LAB_BENCHES)
	$(Q)$(TOP)/mk/run-bench.sh $(BUILD_ROOT)/bench "$(ONLY)" $(LAB_BENCHES)

clean:
	rm -rf $(LAB_OUT) $(OUT)/obj/lab/$(LAB)

-include $(shell find $(OUT)/obj/lab/$(LAB) -name '*.d' 2>/dev/null)
