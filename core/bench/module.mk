# Each name N builds core/bench/bench_N.c into build/<flavour>/bench/bench_N.
CORE_BENCH += coro
CORE_BENCH += sched
CORE_BENCH += chan
CORE_BENCH += bus
# bench_bus also links the AoS baseline: the bus sources compiled again in the
# other layout (core/bench/bus_aos/kc_bus_aos.c).
$(OUT)/bench/bench_bus: $(OUT)/obj/core/bench/bus_aos/kc_bus_aos.o
CORE_BENCH += arena
CORE_BENCH += zdesc
CORE_BENCH += ctx
