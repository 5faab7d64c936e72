# graduated/mux/module.mk - written by make graduate from lab/mux/Makefile; do not edit.
MODULES       += mux
mux.dir      := graduated/mux
mux.layer    := 4
mux.srcs     := kc_mux.c kc_mux_registry.c kc_mux_state.c kc_mux_stream.c
mux.services :=
mux.uses     := base/kc_bytes.h chan/kc_chan_svc.h ipc_posix_co/kc_ipc_svc.h sched/kc_sched_svc.h
mux.public   := kcoro/mux.h
