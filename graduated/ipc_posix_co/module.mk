# graduated/ipc_posix_co/module.mk - written by make graduate from lab/ipc_posix_co/Makefile; do not edit.
MODULES       += ipc_posix_co
ipc_posix_co.dir      := graduated/ipc_posix_co
ipc_posix_co.layer    := 4
ipc_posix_co.srcs     := kc_frame.c kc_ipc.c kc_ipc_conn.c kc_ipc_map.c kc_ipc_registry.c kc_rpc.c kc_transport.c kc_transport_mem.c kc_transport_unix.c
ipc_posix_co.services := kc_ipc_svc.h
ipc_posix_co.uses     := base/kc_bytes.h base/kc_debug.h port/kc_port.h sched/kc_sched_svc.h
ipc_posix_co.public   := kcoro/transport.h kcoro/ipc.h
