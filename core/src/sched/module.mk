CORE_SRCS += $(TOP)/core/src/sched/kc_runq.c $(TOP)/core/src/sched/kc_cancel.c \
             $(TOP)/core/src/sched/kc_park.c $(TOP)/core/src/sched/kc_timer.c \
             $(TOP)/core/src/sched/kc_worker.c $(TOP)/core/src/sched/kc_task.c \
             $(TOP)/core/src/sched/kc_sched.c $(TOP)/core/src/sched/kc_io.c \
             $(TOP)/core/src/sched/kc_io_ops.c $(TOP)/core/src/sched/kc_scope.c
CORE_SRCS += $(TOP)/core/src/sched/kc_deadlock.c
CORE_SRCS += $(TOP)/core/src/sched/kc_context.c $(TOP)/core/src/sched/kc_blocking.c
