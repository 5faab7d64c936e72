# graduated/select/module.mk - written by make graduate from lab/select/Makefile; do not edit.
MODULES       += select
select.dir      := graduated/select
select.layer    := 4
select.srcs     := kc_rsel_client.c kc_rsel_mux.c kc_rsel_owner.c kc_rsel_pipe.c kc_rsel_wire.c
select.services :=
select.uses     := base/kc_bytes.h chan/kc_chan_svc.h ipc_posix_co/kc_ipc_svc.h sched/kc_sched_svc.h
select.public   := kcoro/rsel.h
