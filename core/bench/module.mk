# Each name N builds core/bench/bench_N.c into build/<flavour>/bench/bench_N.
CORE_BENCH += coro
CORE_BENCH += sched
CORE_BENCH += chan
CORE_BENCH += arena
CORE_BENCH += zdesc
