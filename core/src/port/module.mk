CORE_SRCS += $(TOP)/core/src/port/kc_port_mem.c
