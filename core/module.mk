# core/module.mk - core's sources: one fragment per module appends to the lists.
include $(wildcard $(TOP)/core/src/*/module.mk)
include $(TOP)/core/src/arch/$(KC_ARCH)/module.mk
include $(TOP)/core/tests/module.mk
include $(TOP)/core/bench/module.mk
include $(TOP)/core/demo/module.mk
include $(TOP)/core/tools/module.mk
