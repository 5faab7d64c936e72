# Each name N builds core/bench/bench_N.c into build/<flavour>/bench/bench_N.
CORE_BENCH += coro
CORE_BENCH += sched
CORE_BENCH += chan
CORE_BENCH += bus
# bench_bus also links the AoS baseline: the bus sources compiled again in the
# other layout. There is one baseline, the lab's (lab/soa_bus/bench/aos/
# kc_bus_aos.c, with its bus_ops.h), compiled here from graduated/soa_bus.
BUS_AOS_OBJ := $(OUT)/obj/core/bench/bus_aos.o
$(OUT)/bench/bench_bus: $(BUS_AOS_OBJ)
$(OUT)/obj/core/bench/bench_bus.o: private KC_CPPFLAGS += -I$(TOP)/lab/soa_bus/bench
$(BUS_AOS_OBJ): private KC_CPPFLAGS += -I$(TOP)/graduated/soa_bus -I$(OUT)/include/bench
$(BUS_AOS_OBJ): $(TOP)/lab/soa_bus/bench/aos/kc_bus_aos.c $(FLAGS_STAMP) $(OUT)/include/bench/.view
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      lab/soa_bus/bench/aos/kc_bus_aos.c (from graduated/soa_bus)")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@
CORE_BENCH += arena
CORE_BENCH += zdesc
CORE_BENCH += ctx
CORE_BENCH += obs
# The benchmarks read the port's clock; the AoS baseline of the bus needs
# what the bus's own sources include.
bench.uses := port/kc_port.h sched/kc_sched_svc.h
# bench_ipc: the two-process ipc figures (its tcp:// figure links
# libkcoro-tcp: adapters/tcp/module.mk adds the library).
CORE_BENCH += ipc
# bench_mux: the two-process figures of remote channels (kcoro/mux.h) beside
# the mux_*.c peers (core/bench/peers/pairs.tsv).
CORE_BENCH += mux
# bench_rsel: the two-process figures of remote select (kcoro/rsel.h) beside
# the rsel_zmq.c peer (core/bench/peers/pairs.tsv).
CORE_BENCH += rsel
# count_ops: the hot paths N times each on one worker, for instruction
# counts under callgrind (mk/count-ops.sh, `make bench-count`); not timed,
# so `make bench` does not run it.
COUNT_BIN := $(OUT)/bench/count_ops
$(COUNT_BIN): $(OUT)/obj/core/bench/count_ops.o $(OUT)/lib/libkcoro.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    bench/$(@F)")
	$(Q)$(CC) $(KC_LDFLAGS) -o $@ $^ $(KC_LDLIBS)
