# core/src/base/module.mk - error names and KCORO_DEBUG diagnostics (layer 0).
MODULES       += base
base.dir      := core/src/base
base.layer    := 0
base.srcs     := kc_error.c kc_debug.c
base.services := kc_debug.h
base.uses     :=
base.public   := kcoro/base.h
