# The `make demo` program: one file per section of the tour.
DEMO_SRCS += $(TOP)/core/demo/kcoro_demo.c $(TOP)/core/demo/demo_coro.c \
             $(TOP)/core/demo/demo_sched.c
DEMO_SRCS += $(TOP)/core/demo/demo_chan.c
DEMO_SRCS += $(TOP)/core/demo/demo_bus.c
DEMO_SRCS += $(TOP)/core/demo/demo_zcopy.c
DEMO_SRCS += $(TOP)/core/demo/demo_ergo.c
DEMO_SRCS += $(TOP)/core/demo/demo_actor.c
