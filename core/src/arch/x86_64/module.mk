CORE_SRCS += $(TOP)/core/src/arch/x86_64/kc_ctx_x86_64.c
CORE_ASM  += $(TOP)/core/src/arch/x86_64/kc_switch.S
