# core/src/port/module.mk - the platform layer (layer 0): memory, clocks,
# futexes and locks, pollers, sanitizer hooks. Every header is a service of
# the execution layer; higher layers reach parking and the clock through
# sched/kc_sched_svc.h instead.
MODULES       += port
port.dir      := core/src/port
port.layer    := 0
port.srcs     := kc_port_mem.c kc_futex.c kc_poller_epoll.c kc_poller_poll.c kc_port_fd.c \
                 kc_poller.c kc_port_resident.c
port.services := kc_port.h kc_futex.h kc_poller.h kc_port_san.h
port.uses     :=
port.public   :=
