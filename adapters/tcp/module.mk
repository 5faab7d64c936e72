# adapters/tcp/module.mk - libkcoro-tcp, the tcp:// transport adapter.
#
# It is compiled against kcoro's public headers as `make install` installs
# them (staged under build/<flavour>/stage/include) and nothing else of
# kcoro's tree: the proof that kcoro/transport.h suffices for a transport
# that lives outside the library. Needs libsodium (HMAC-SHA-256, nonces).
TCP_DIR    := $(TOP)/adapters/tcp
TCP_STAGE  := $(OUT)/stage/include
TCP_A      := $(OUT)/lib/libkcoro-tcp.a
TCP_SO     := $(OUT)/lib/libkcoro-tcp.so.$(KC_VERSION)
TCP_OBJ    := $(OUT)/obj/adapters/tcp/kc_transport_tcp.o
TCP_CFLAGS  = -I$(TCP_DIR)/include -I$(TCP_STAGE) -D_POSIX_C_SOURCE=200809L \
              -std=c11 $(WARN) $(OPT_$(FLAVOR)) -fPIC -fvisibility=hidden -pthread -MMD -MP
TCP_LIBS   := -lsodium
# Cross builds have no libsodium for the target: the adapter is host-only.
ifneq ($(FLAVOR),aarch64)
TCP_TARGETS   := $(TCP_A) $(TCP_SO)
TCP_TEST_BINS := $(OUT)/tests/test_tcp
endif

.PHONY: deps-tcp
deps-tcp:
	$(Q)$(TOP)/mk/need.sh libsodium-dev=/usr/include/sodium.h

# kcoro's public headers, installed as `make install` installs them.
$(TCP_STAGE)/.stamp: $(TOP)/core/include/kcoro.h $(wildcard $(TOP)/core/include/kcoro/*.h)
	$(Q)rm -rf $(TCP_STAGE) && install -d $(TCP_STAGE)/kcoro
	$(Q)install -m 644 $(TOP)/core/include/kcoro.h $(TCP_STAGE)/
	$(Q)install -m 644 $(addprefix $(TOP)/core/include/,$(filter kcoro/%,$(MANIFEST_HEADERS))) \
		$(TCP_STAGE)/kcoro/
	$(Q)touch $@

$(OUT)/obj/adapters/tcp/%.o: $(TCP_DIR)/%.c $(TCP_STAGE)/.stamp $(FLAGS_STAMP) | deps-tcp
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      adapters/tcp/$*.c")
	$(Q)$(CC) $(TCP_CFLAGS) -c $< -o $@

$(TCP_A): $(TCP_OBJ)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(TCP_SO): $(TCP_OBJ) $(LIB_SO)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $(@F)")
	$(Q)$(CC) -shared -Wl,-soname,libkcoro-tcp.so.$(KC_SOVER) $(KC_LDFLAGS) -o $@ $(TCP_OBJ) \
		-L$(OUT)/lib -lkcoro $(TCP_LIBS)
	$(Q)ln -sf $(@F) $(OUT)/lib/libkcoro-tcp.so.$(KC_SOVER)
	$(Q)ln -sf $(@F) $(OUT)/lib/libkcoro-tcp.so

# The adapter's tests, also compiled against the staged headers only.
$(OUT)/obj/adapters/tcp/tests/%.o: $(TCP_DIR)/tests/%.c $(TCP_STAGE)/.stamp $(FLAGS_STAMP) | deps-tcp
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      adapters/tcp/tests/$*.c")
	$(Q)$(CC) $(TCP_CFLAGS) -c $< -o $@

$(OUT)/tests/test_tcp: $(OUT)/obj/adapters/tcp/tests/test_tcp.o $(TCP_A) $(LIB_A)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    tests/$(@F)")
	$(Q)$(CC) $(KC_LDFLAGS) -o $@ $^ $(TCP_LIBS) -lcmocka $(KC_LDLIBS)

# core/bench/bench_ipc measures tcp:// through the adapter.
$(OUT)/obj/core/bench/bench_ipc.o: KC_CPPFLAGS += -I$(TCP_DIR)/include
$(OUT)/bench/bench_ipc: $(TCP_A)
$(OUT)/bench/bench_ipc: KC_LDLIBS += $(LIB_A) $(TCP_LIBS)

install-tcp: $(TCP_TARGETS)
	$(if $(TCP_TARGETS),install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/kcoro)
	$(if $(TCP_TARGETS),install -m 644 $(TCP_A) $(DESTDIR)$(LIBDIR)/)
	$(if $(TCP_TARGETS),install -m 755 $(TCP_SO) $(DESTDIR)$(LIBDIR)/)
	$(if $(TCP_TARGETS),ln -sf libkcoro-tcp.so.$(KC_VERSION) $(DESTDIR)$(LIBDIR)/libkcoro-tcp.so.$(KC_SOVER))
	$(if $(TCP_TARGETS),ln -sf libkcoro-tcp.so.$(KC_VERSION) $(DESTDIR)$(LIBDIR)/libkcoro-tcp.so)
	$(if $(TCP_TARGETS),install -m 644 $(TCP_DIR)/include/kcoro/tcp.h $(DESTDIR)$(INCDIR)/kcoro/)
	$(if $(TCP_TARGETS),sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCDIR@|$(INCDIR)|g' -e 's|@VERSION@|$(KC_VERSION)|g' \
	    $(TCP_DIR)/kcoro-tcp.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/kcoro-tcp.pc)

uninstall-tcp:
	rm -f $(DESTDIR)$(LIBDIR)/libkcoro-tcp.a $(DESTDIR)$(LIBDIR)/libkcoro-tcp.so*
	rm -f $(DESTDIR)$(LIBDIR)/pkgconfig/kcoro-tcp.pc $(DESTDIR)$(INCDIR)/kcoro/tcp.h
