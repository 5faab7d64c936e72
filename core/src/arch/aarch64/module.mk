CORE_SRCS += $(TOP)/core/src/arch/aarch64/kc_ctx_aarch64.c
CORE_ASM  += $(TOP)/core/src/arch/aarch64/kc_switch.S
