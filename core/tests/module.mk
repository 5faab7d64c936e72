# Each name N builds core/tests/test_N.c into build/<flavour>/tests/test_N.
CORE_TESTS += coro
CORE_TESTS += stack_clash
CORE_TESTS += port
CORE_TESTS += park
CORE_TESTS += sched
CORE_TESTS += cancel
CORE_TESTS += timer
CORE_TESTS += io
CORE_TESTS += scope
CORE_TESTS += sched_stress
CORE_TESTS += chan
CORE_TESTS += chan_wait
CORE_TESTS += lifetime
CORE_TESTS += select
CORE_TESTS += select_off
CORE_TESTS += select_remote
CORE_TESTS += chan_room
CORE_TESTS += deadlock
CORE_TESTS += produce
CORE_TESTS += chan_timer
CORE_TESTS += chan_typed
CORE_TESTS += context
CORE_TESTS += blocking
CORE_TESTS += actor
CORE_TESTS += chan_lincheck
CORE_TESTS += chan_stress
CORE_TESTS += chan_seq
CORE_TESTS += chan_remote
CORE_TESTS += sched_ceiling
CORE_TESTS += bus
CORE_TESTS += zdesc
CORE_TESTS += zdesc_outcomes
CORE_TESTS += zdesc_threads
CORE_TESTS += zdesc_fault
CORE_TESTS += timeouts
CORE_TESTS += abuse_arena
CORE_TESTS += abuse_base
CORE_TESTS += abuse_bus
CORE_TESTS += abuse_cancel
CORE_TESTS += abuse_chan
CORE_TESTS += abuse_coro
CORE_TESTS += abuse_io
CORE_TESTS += abuse_park
CORE_TESTS += abuse_sched
CORE_TESTS += abuse_scope
CORE_TESTS += abuse_timer
CORE_TESTS += abuse_zdesc
CORE_TESTS += abuse_transport
CORE_TESTS += abuse_actor
CORE_TESTS += abuse_blocking
CORE_TESTS += abuse_chan_timer
CORE_TESTS += abuse_context
CORE_TESTS += abuse_produce
CORE_TESTS += abuse_ipc
CORE_TESTS += abuse_registry
CORE_TESTS += abuse_monitor
CORE_TESTS += abuse_sim
CORE_TESTS += abuse_rel
CORE_TESTS += abuse_mux
CORE_TESTS += abuse_rsel
CORE_TESTS += sim_env
CORE_TESTS += registry
CORE_TESTS += sched_dump
CORE_TESTS += monitor
# The tests are white-box: they may include every module's headers.
tests.uses = $(MODULES)

# test_stack_clash checks what programs built with `pkg-config --cflags
# kcoro` get: its object is compiled with kcoro.pc's Cflags (the include
# path aside) instead of the library's own hardening flag.
KC_PC_CFLAGS := $(filter-out -I%,$(shell sed -n 's/^Cflags://p' $(TOP)/core/kcoro.pc.in))
$(OUT)/obj/core/tests/test_stack_clash.o: private KC_CFLAGS := \
	$(filter-out $(KC_HARDEN),$(KC_CFLAGS)) $(KC_PC_CFLAGS) $(KC_HARDEN_ARCH)
