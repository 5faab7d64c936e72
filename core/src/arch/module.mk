# core/src/arch/module.mk - context switch per architecture (layer 1):
# kc_arch.h is the one interface, arch/<arch>/ the one built.
MODULES       += arch
arch.dir      := core/src/arch
arch.layer    := 1
arch.srcs     := $(KC_ARCH)/kc_ctx_$(KC_ARCH).c $(KC_ARCH)/kc_switch.S
arch.services := kc_arch.h
arch.uses     :=
arch.public   :=
