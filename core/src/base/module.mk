# core/src/base/module.mk - error names, KCORO_DEBUG diagnostics, the registry and the wire's byte order (layer 0).
MODULES       += base
base.dir      := core/src/base
base.layer    := 0
base.srcs     := kc_error.c kc_debug.c kc_registry.c
base.services := kc_debug.h kc_bytes.h
base.uses     := port/kc_port.h
base.public   := kcoro/base.h kcoro/registry.h
