# core/src/coro/module.mk - coroutines, stacks and the overflow guard
# (layer 1). The scheduler reaches a coroutine through kc_coro_svc.h.
MODULES       += coro
coro.dir      := core/src/coro
coro.layer    := 1
coro.srcs     := kc_coro.c kc_stack.c kc_guard.c
coro.services := kc_coro_svc.h
coro.uses     := arch/kc_arch.h base/kc_debug.h port/kc_port.h port/kc_port_san.h
coro.public   := kcoro/coro.h
