# adapters/udp/module.mk - libkcoro-udp, the udp:// datagram transport adapter.
#
# Like adapters/tcp, it is compiled against kcoro's public headers as
# `make install` installs them (staged under build/<flavour>/stage/include,
# the rule in adapters/tcp/module.mk) and nothing else of kcoro's tree. It
# needs no library beyond libc and libkcoro.
UDP_DIR    := $(TOP)/adapters/udp
UDP_A      := $(OUT)/lib/libkcoro-udp.a
UDP_SO     := $(OUT)/lib/libkcoro-udp.so.$(KC_VERSION)
UDP_OBJ    := $(OUT)/obj/adapters/udp/kc_transport_udp.o
UDP_CFLAGS  = -I$(UDP_DIR)/include -I$(TCP_STAGE) -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
              -std=c11 $(WARN) $(OPT_$(FLAVOR)) -fPIC -fvisibility=hidden -pthread -MMD -MP
# Host-only, like the tcp adapter (the cross flavour builds the library and
# its tests without the adapters).
ifneq ($(FLAVOR),aarch64)
UDP_TARGETS   := $(UDP_A) $(UDP_SO)
UDP_TEST_BINS := $(OUT)/tests/test_udp
endif

$(OUT)/obj/adapters/udp/%.o: $(UDP_DIR)/%.c $(TCP_STAGE)/.stamp $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      adapters/udp/$*.c")
	$(Q)$(CC) $(UDP_CFLAGS) -c $< -o $@

$(UDP_A): $(UDP_OBJ)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(UDP_SO): $(UDP_OBJ) $(LIB_SO)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $(@F)")
	$(Q)$(CC) -shared -Wl,-soname,libkcoro-udp.so.$(KC_SOVER) $(KC_LDFLAGS) -o $@ $(UDP_OBJ) \
		-L$(OUT)/lib -lkcoro
	$(Q)ln -sf $(@F) $(OUT)/lib/libkcoro-udp.so.$(KC_SOVER)
	$(Q)ln -sf $(@F) $(OUT)/lib/libkcoro-udp.so

# The adapter's tests, also compiled against the staged headers only.
$(OUT)/obj/adapters/udp/tests/%.o: $(UDP_DIR)/tests/%.c $(TCP_STAGE)/.stamp $(FLAGS_STAMP) | deps-test
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      adapters/udp/tests/$*.c")
	$(Q)$(CC) $(UDP_CFLAGS) -c $< -o $@

$(OUT)/tests/test_udp: $(OUT)/obj/adapters/udp/tests/test_udp.o $(UDP_A) $(LIB_A)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    tests/$(@F)")
	$(Q)$(CC) $(KC_LDFLAGS) -o $@ $^ -lcmocka $(KC_LDLIBS)

install-udp: $(UDP_TARGETS)
	$(if $(UDP_TARGETS),install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/kcoro)
	$(if $(UDP_TARGETS),install -m 644 $(UDP_A) $(DESTDIR)$(LIBDIR)/)
	$(if $(UDP_TARGETS),install -m 755 $(UDP_SO) $(DESTDIR)$(LIBDIR)/)
	$(if $(UDP_TARGETS),ln -sf libkcoro-udp.so.$(KC_VERSION) $(DESTDIR)$(LIBDIR)/libkcoro-udp.so.$(KC_SOVER))
	$(if $(UDP_TARGETS),ln -sf libkcoro-udp.so.$(KC_VERSION) $(DESTDIR)$(LIBDIR)/libkcoro-udp.so)
	$(if $(UDP_TARGETS),install -m 644 $(UDP_DIR)/include/kcoro/udp.h $(DESTDIR)$(INCDIR)/kcoro/)
	$(if $(UDP_TARGETS),sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCDIR@|$(INCDIR)|g' -e 's|@VERSION@|$(KC_VERSION)|g' \
	    $(UDP_DIR)/kcoro-udp.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/kcoro-udp.pc)

uninstall-udp:
	rm -f $(DESTDIR)$(LIBDIR)/libkcoro-udp.a $(DESTDIR)$(LIBDIR)/libkcoro-udp.so*
	rm -f $(DESTDIR)$(LIBDIR)/pkgconfig/kcoro-udp.pc $(DESTDIR)$(INCDIR)/kcoro/udp.h
