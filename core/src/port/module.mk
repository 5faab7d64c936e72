CORE_SRCS += $(TOP)/core/src/port/kc_port_mem.c
CORE_SRCS += $(TOP)/core/src/port/kc_futex.c $(TOP)/core/src/port/kc_poller_epoll.c \
             $(TOP)/core/src/port/kc_poller_poll.c $(TOP)/core/src/port/kc_port_fd.c
CORE_SRCS += $(TOP)/core/src/port/kc_port_resident.c
