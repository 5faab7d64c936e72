# mk/lab.mk - the shared build of one lab (ARCHITECTURE.md section 3).
#
# A lab's Makefile declares the module it studies and includes this file:
#
#   LAB           := <mod>               the lab's name (its folder)
#   LAB_LAYER     := 2                   the layer the module joins when it
#                                        graduates (ARCHITECTURE.md section 2)
#   LAB_USES      := sched/kc_sched_svc.h   service headers src/ may include
#   LAB_TEST_USES := port/kc_port.h      more that main.c, tests/ and bench/
#                                        may include (white-box checks)
#   LAB_SERVICES  := kc_waiter.h         its headers other modules may include
#                                        once graduated (never an *_impl.h)
#   LAB_PUBLIC    := kcoro/bus.h         its public headers in core/include:
#                                        installed, and included by kcoro.h,
#                                        only once it has graduated
#   LAB_LIB       := kc_bus.c ...        the files of src/ that join libkcoro
#                                        when it graduates (default: every .c)
#   LAB_LDLIBS    := -lfoo               extra libraries for its programs
#
# make graduate turns this declaration into graduated/<mod>/module.mk
# (mk/modules.mk says what each field means there). src/ compiles against
# core's public headers, its own folder and the headers of LAB_USES, no
# others (an include view, mk/view.sh); main.c, tests/ and bench/ also get
# LAB_TEST_USES. `make lint` checks the declaration against the layers.
#
# `make -C lab/<mod>` builds the explorer and the tests; `test` runs the tests,
# `run` runs the explorer, `bench` runs bench/*.c. Objects and binaries land in
# build/<flavour>/lab/<mod>/. Labs link libkcoro (built on demand).

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
LAB ?= $(notdir $(CURDIR))
FLAGS_STAMP = $(OUT)/lab/$(LAB)/.flags
include $(TOP)/mk/config.mk
include $(TOP)/mk/modules.mk

ifeq ($(strip $(LAB_LAYER)),)
$(error lab/$(LAB)/Makefile: declare LAB_LAYER (and LAB_USES, LAB_PUBLIC, ...): see mk/lab.mk)
endif

LAB_DIR   := $(TOP)/lab/$(LAB)
LAB_OUT   := $(OUT)/lab/$(LAB)
LIB_A     := $(OUT)/lib/libkcoro.a
KC_CPPFLAGS += -I$(LAB_DIR)/src

obj = $(patsubst $(TOP)/%.c,$(OUT)/obj/%.o,$(1))

LAB_SRC_FILES := $(sort $(patsubst $(LAB_DIR)/src/%,%,$(shell find $(LAB_DIR)/src -type f 2>/dev/null)))
LAB_LIB       ?= $(filter %.c,$(LAB_SRC_FILES))
LAB_SRC_OBJS  := $(call obj,$(addprefix $(LAB_DIR)/src/,$(filter %.c,$(LAB_SRC_FILES))))
LAB_TEST_SRCS := $(wildcard $(LAB_DIR)/tests/test_*.c)
LAB_TEST_HELP := $(call obj,$(filter-out $(LAB_TEST_SRCS),$(wildcard $(LAB_DIR)/tests/*.c)))
LAB_TESTS     := $(patsubst $(LAB_DIR)/tests/%.c,$(LAB_OUT)/tests/%,$(LAB_TEST_SRCS))
LAB_BENCHES   := $(patsubst $(LAB_DIR)/bench/%.c,$(LAB_OUT)/bench/%,$(wildcard $(LAB_DIR)/bench/*.c))
LAB_EXPLORER  := $(LAB_OUT)/$(LAB)
LAB_OTHER_OBJS := $(call obj,$(LAB_DIR)/main.c $(wildcard $(LAB_DIR)/tests/*.c) \
                  $(wildcard $(LAB_DIR)/bench/*.c $(LAB_DIR)/bench/*/*.c))

$(eval $(call mod_view_rules,lab-$(LAB),$(LAB_SRC_OBJS),,$(LAB_USES)))
$(eval $(call mod_view_rules,lab-$(LAB)-tests,$(LAB_OTHER_OBJS),,$(LAB_USES) $(LAB_TEST_USES)))

.DEFAULT_GOAL := all
.PHONY: all test run bench libkcoro clean declaration print-lab deps deps-cc

# The packages each target needs, installed or named as `make test` does
# (NEED_* in mk/config.mk): a compiler for everything, cmocka (and the
# flavour's sanitizer runtime or cross tools) for the tests. Order-only, so
# the check runs first and rebuilds nothing.
deps:
	$(Q)$(NEED_TESTS)
deps-cc:
	$(Q)$(TOP)/mk/need.sh $(NEED_CC)
$(call obj,$(LAB_TEST_SRCS)) $(LAB_TEST_HELP): | deps
libkcoro: | deps-cc

# One line for mk/check-layers.sh: name|layer|lib|services|uses|test uses|public
print-lab:
	@echo '$(LAB)|$(LAB_LAYER)|$(strip $(LAB_LIB))|$(strip $(LAB_SERVICES))|$(strip $(LAB_USES))|$(strip $(LAB_TEST_USES))|$(strip $(LAB_PUBLIC))'

# The graduated module.mk this declaration becomes (mk/graduate.sh).
declaration:
	@echo "# graduated/$(LAB)/module.mk - written by make graduate from lab/$(LAB)/Makefile; do not edit."
	@echo "MODULES       += $(LAB)"
	@echo "$(LAB).dir      := graduated/$(LAB)"
	@echo "$(LAB).layer    := $(LAB_LAYER)"
	@echo "$(LAB).srcs     :=$(if $(strip $(LAB_LIB)), $(strip $(LAB_LIB)))"
	@echo "$(LAB).services :=$(if $(strip $(LAB_SERVICES)), $(strip $(LAB_SERVICES)))"
	@echo "$(LAB).uses     :=$(if $(strip $(LAB_USES)), $(strip $(LAB_USES)))"
	@echo "$(LAB).public   :=$(if $(strip $(LAB_PUBLIC)), $(strip $(LAB_PUBLIC)))"

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
