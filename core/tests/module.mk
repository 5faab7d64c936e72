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
CORE_TESTS += zdesc
