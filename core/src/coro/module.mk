CORE_SRCS += $(TOP)/core/src/coro/kc_coro.c $(TOP)/core/src/coro/kc_stack.c \
             $(TOP)/core/src/coro/kc_guard.c
