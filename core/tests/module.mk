# Each name N builds core/tests/test_N.c into build/<flavour>/tests/test_N.
CORE_TESTS += coro
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
CORE_TESTS += select
CORE_TESTS += chan_lincheck
CORE_TESTS += chan_stress
CORE_TESTS += chan_cells
CORE_TESTS += sched_ceiling
CORE_TESTS += bus
CORE_TESTS += zdesc
CORE_TESTS += zdesc_outcomes
CORE_TESTS += zdesc_threads
CORE_TESTS += zdesc_fault
# The tests are white-box: they may include every module's headers.
tests.uses = $(MODULES)
