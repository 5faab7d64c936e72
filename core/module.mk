# core/module.mk - core's sources, tests, benchmarks and demo.
#
# The modules themselves (core/src/<mod> and graduated/<mod>) declare their
# files and include rights in their module.mk, read by mk/modules.mk.
CORE_SRCS    += $(filter %.c,$(foreach m,$(CORE_MODULES),$(call mod_src,$(m))))
CORE_ASM     += $(filter %.S,$(foreach m,$(CORE_MODULES),$(call mod_src,$(m))))
include $(TOP)/core/tests/module.mk
include $(TOP)/core/bench/module.mk
include $(TOP)/core/demo/module.mk
include $(TOP)/core/tools/module.mk
