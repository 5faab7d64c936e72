# core/src/sched/module.mk - the scheduler, parking, timers, I/O waits,
# cancellation and scopes (layer 1). kc_sched_svc.h is the execution
# layer's service to the layers above: parking, the clock, the current task
# and its worker count.
MODULES        += sched
sched.dir      := core/src/sched
sched.layer    := 1
sched.srcs     := kc_clock.c kc_current.c kc_wake.c kc_handoff.c kc_idle.c kc_drain.c kc_runq.c \
                  kc_cancel.c kc_park.c kc_timer.c kc_worker.c kc_task.c \
                  kc_sched.c kc_io.c kc_io_ops.c kc_scope.c kc_deadlock.c kc_context.c \
                  kc_blocking.c kc_sched_registry.c kc_sched_dump.c
sched.services := kc_sched_svc.h kc_sched_hooks.h
sched.uses     := base/kc_debug.h coro/kc_coro_svc.h port/kc_futex.h port/kc_poller.h \
                  port/kc_port.h
sched.public   := kcoro/cancel.h kcoro/park.h kcoro/sched.h kcoro/timer.h kcoro/io.h \
                  kcoro/scope.h kcoro/context.h kcoro/blocking.h
