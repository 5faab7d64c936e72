# mk/config.mk - build flavours, compiler flags and output directories.
#
# Every build lands under build/<flavour>/. The flavour is one knob:
#   FLAVOR=default   -O2 -g, the build tests and benchmarks use
#   FLAVOR=asan      AddressSanitizer + UndefinedBehaviorSanitizer (clang)
#   FLAVOR=tsan      ThreadSanitizer (clang)
#   FLAVOR=aarch64   cross-built with gcc-aarch64-linux-gnu, run under qemu-user
#   FLAVOR=fault     fault injection: every KC_FAULT_EVERY-th allocation fails
# V=1 prints full command lines.

TOP        ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
FLAVOR     ?= default
BUILD_ROOT ?= $(TOP)/build
OUT        := $(BUILD_ROOT)/$(FLAVOR)

ifeq ($(V),1)
Q :=
else
Q := @
endif

HOST_ARCH := $(shell uname -m)

CC_default := cc
CC_asan    := clang
CC_tsan    := clang
CC_aarch64 := aarch64-linux-gnu-gcc
CC_fault   := cc
ifeq ($(origin CC),default)
CC := $(CC_$(FLAVOR))
endif
AR := $(if $(filter aarch64,$(FLAVOR)),aarch64-linux-gnu-ar,ar)

ifeq ($(FLAVOR),aarch64)
KC_ARCH := aarch64
else ifeq ($(HOST_ARCH),aarch64)
KC_ARCH := aarch64
else
KC_ARCH := x86_64
endif

# A strict warning set: every warning is an error.
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wpointer-arith -Wwrite-strings -Wundef \
        -Wformat=2 -Wvla -Wcast-qual -Wold-style-definition \
        -Wmissing-declarations -Wredundant-decls

# Functions start on a cache line: the hot loops of the bus and the
# channels otherwise shift against 64-byte boundaries whenever the link
# order changes, and their throughput with them (measured: -18% and -31%
# on the bus's f4 and f16 fan-out from a relink alone).
OPT_default := -O2 -g -falign-functions=64
OPT_asan    := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
               -fno-sanitize-recover=undefined
OPT_tsan    := -O1 -g -fsanitize=thread
OPT_aarch64 := -O2 -g
OPT_fault   := -O1 -g -DKC_FAULT_INJECT=1

# The default flavour optimises the library across its files (Makefile:
# LIB_LTO) when the compiler is GCC (the relocatable LTO link,
# -flinker-output=nolto-rel, is GCC's); -flto=auto runs the link-time jobs
# in parallel. `make CC=clang` builds without it.
CC_IS_GCC       := $(shell $(CC) -v 2>&1 | grep -q '^gcc version' && echo 1)
LIB_LTO_default := $(CC_IS_GCC)
LIB_LTO        ?= $(LIB_LTO_$(FLAVOR))
LIB_LTO_CFLAGS := -flto=auto -ffat-lto-objects

LDSAN_asan := -fsanitize=address,undefined
LDSAN_tsan := -fsanitize=thread

KC_CPPFLAGS := -I$(TOP)/core/include \
               -D_POSIX_C_SOURCE=200809L
# Stack-clash protection: a function whose frame is larger than a page
# touches it page by page from the top, so a frame larger than a
# coroutine's 16 KiB guard faults in the guard (and is reported by name)
# instead of writing below it. kcoro.pc gives programs the same flag
# (core/docs/SCHEDULER.md, "Stack size and large frames"). Dropped only
# for a compiler that does not know it.
# GCC on AArch64 assumes a 64 KiB guard and probes only every 64 KiB;
# kcoro's guard is 16 KiB, so there it is told to probe every page
# (KC_HARDEN_ARCH; the rule in SCHEDULER.md says the same for programs).
KC_HARDEN := $(shell $(CC) -Werror -fstack-clash-protection -x c -c /dev/null -o /dev/null \
               2>/dev/null && echo -fstack-clash-protection)
ifeq ($(KC_ARCH),aarch64)
KC_HARDEN_ARCH := $(shell $(CC) -Werror --param stack-clash-protection-guard-size=12 -x c -c \
                    /dev/null -o /dev/null 2>/dev/null && echo --param stack-clash-protection-guard-size=12)
KC_HARDEN += $(KC_HARDEN_ARCH)
endif
KC_CFLAGS   := -std=c11 $(WARN) $(OPT_$(FLAVOR)) -fPIC -fvisibility=hidden \
               -pthread -MMD -MP $(KC_HARDEN)
KC_LDFLAGS  := -pthread $(LDSAN_$(FLAVOR))
# -u kc_sim_register: a program linking the static library gets the
# simulator's member (and its load-time registration), so KCORO_SIM works
# in every program with no code change (kcoro.pc's Libs.private says the same).
KC_LDLIBS   := -Wl,-u,kc_sim_register -lm

ALL_CFLAGS = $(KC_CPPFLAGS) $(KC_CFLAGS) $(CPPFLAGS) $(CFLAGS)

# How to run a built test or program: natively, or under qemu-user. The
# arm64 libraries come from Debian's multiarch packages (libcmocka-dev:arm64
# brings libc6:arm64), so qemu runs the binaries with the system's arm64
# loader; mixing in the cross toolchain's libc (-L /usr/aarch64-linux-gnu)
# hangs threaded programs.
ifeq ($(FLAVOR),aarch64)
RUN := qemu-aarch64 -E KCORO_UNDER_QEMU=1
else
RUN :=
endif

# The Debian packages a build needs to compile, link and run its tests
# (mk/need.sh), checked the way the build uses them: cmocka as a library
# the host compiler links, the sanitizers' runtimes as clang links them.
# One place for the top Makefile and every lab (`make deps`).
NEED_CC      := build-essential=/usr/bin/cc
NEED_CMOCKA  := libcmocka-dev=link:cc:cmocka.h:-lcmocka
NEED_default := $(NEED_CC) $(NEED_CMOCKA)
NEED_fault   := $(NEED_default)
NEED_asan    := $(NEED_default) clang=/usr/bin/clang libclang-rt-14-dev=link:clang::-fsanitize=address
NEED_tsan    := $(NEED_default) clang=/usr/bin/clang libclang-rt-14-dev=link:clang::-fsanitize=thread
NEED_TESTS    = $(if $(filter aarch64,$(FLAVOR)),$(TOP)/mk/need-arm64.sh,$(TOP)/mk/need.sh $(NEED_$(FLAVOR)))

.DELETE_ON_ERROR:

# Changing flags rebuilds: objects depend on a stamp holding the flags. Labs
# keep their own stamp (their flags add their src/), so building a lab and
# then core does not make each rebuild the other.
FLAGS_STAMP ?= $(OUT)/.flags
$(FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(ALL_CFLAGS) lto=$(LIB_LTO)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS) lto=$(LIB_LTO)' > $@

FORCE:
.PHONY: FORCE

# Compile rules shared by core, tests, benchmarks and labs.
$(OUT)/obj/%.o: $(TOP)/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $*.c")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(OUT)/obj/%.o: $(TOP)/%.S $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  AS      $*.S")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@
.SECONDARY:
