CORE_SRCS += $(TOP)/core/src/base/kc_error.c $(TOP)/core/src/base/kc_debug.c \
             $(TOP)/core/src/base/kc_registry.c
