# Operator tools: kcoro-chanmon (installed), kcoro-obs-demo (a busy
# program for the tools' tests and the docs; not installed), the Wireshark
# dissector core/tools/wireshark/kcoro.lua and kcoro-wire-session (two
# processes talking over libkcoro-tcp, for the dissector's test; not
# installed), kcoro-multihost (the two-host demonstration's producer and
# consumer, core/tools/multihost; not installed). The tool tests
# (core/tools/tests/*.sh) run with `make test-tools`.
TOOL_CHANMON := $(OUT)/tools/kcoro-chanmon
TOOL_DEMO    := $(OUT)/tools/kcoro-obs-demo
TOOL_WIRE    := $(OUT)/tools/kcoro-wire-session
TOOL_MULTI   := $(OUT)/tools/kcoro-multihost
TOOL_BINS    := $(TOOL_CHANMON) $(TOOL_DEMO)
# The adapter is host-only (adapters/tcp/module.mk), and so are the session
# and the two-host demonstration.
ifneq ($(FLAVOR),aarch64)
TOOL_BINS    += $(TOOL_WIRE) $(TOOL_MULTI)
endif
CHANMON_SRCS := $(TOP)/core/tools/chanmon/chanmon.c $(TOP)/core/tools/chanmon/chanmon_ui.c

tools: $(TOOL_BINS)

$(patsubst $(TOP)/%.c,$(OUT)/obj/%.o,$(CHANMON_SRCS)): | deps-chanmon

$(TOOL_CHANMON): $(patsubst $(TOP)/%.c,$(OUT)/obj/%.o,$(CHANMON_SRCS))
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    tools/$(@F)")
	$(Q)$(CC) $(KC_LDFLAGS) -o $@ $^ -lncurses

$(TOOL_DEMO): $(OUT)/obj/core/tools/obs_demo.o $(OUT)/lib/libkcoro.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    tools/$(@F)")
	$(Q)$(CC) $(KC_LDFLAGS) -o $@ $^ $(KC_LDLIBS)

# Built like the adapter's own users: kcoro's public headers and kcoro/tcp.h.
$(OUT)/obj/core/tools/wireshark/wire_session.o: KC_CPPFLAGS += -I$(TOP)/adapters/tcp/include
$(TOOL_WIRE): $(OUT)/obj/core/tools/wireshark/wire_session.o $(OUT)/lib/libkcoro-tcp.a \
		$(OUT)/lib/libkcoro.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    tools/$(@F)")
	$(Q)$(CC) $(KC_LDFLAGS) -o $@ $^ -lsodium $(KC_LDLIBS)

# The two-host demonstration's program (core/tools/multihost/demo.sh):
# built, like the session, against the public headers and kcoro/tcp.h only.
$(OUT)/obj/core/tools/multihost/multihost.o: KC_CPPFLAGS += -I$(TOP)/adapters/tcp/include
$(TOOL_MULTI): $(OUT)/obj/core/tools/multihost/multihost.o $(OUT)/lib/libkcoro-tcp.a \
		$(OUT)/lib/libkcoro.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    tools/$(@F)")
	$(Q)$(CC) $(KC_LDFLAGS) -o $@ $^ -lsodium $(KC_LDLIBS)

deps-multihost: deps-chanmon
	$(Q)$(TOP)/mk/need.sh iproute2=/usr/sbin/ip

# Two network namespaces joined by a veth pair, a producer and a
# remote-select consumer in each, a killed and restarted consumer, the
# ledger checked (root; fails when it cannot run). README, "Two hosts".
demo-multihost: deps-multihost $(TOOL_MULTI) $(TOOL_CHANMON)
	$(Q)OUT=$(OUT) timeout -k 5 120 sh $(TOP)/core/tools/multihost/demo.sh

deps-chanmon:
	$(Q)$(TOP)/mk/need.sh libncurses-dev=/usr/include/curses.h

deps-tools: deps-chanmon
	$(Q)$(TOP)/mk/need.sh tmux=/usr/bin/tmux \
		prometheus=/usr/bin/promtool curl=/usr/bin/curl python3=/usr/bin/python3 \
		tshark=/usr/bin/tshark iproute2=/usr/sbin/ip

# Each script starts what it needs, bounds every wait, and stops it all.
test-tools: deps-tools $(TOOL_BINS)
	$(Q)rc=0; for t in $(TOP)/core/tools/tests/test_*.sh; do \
		OUT=$(OUT) timeout -k 5 300 sh $$t || rc=1; done; exit $$rc

install-tools: $(TOOL_CHANMON)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(TOOL_CHANMON) $(DESTDIR)$(PREFIX)/bin/

.PHONY: tools deps-chanmon deps-tools test-tools install-tools deps-multihost demo-multihost
