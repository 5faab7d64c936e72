# graduated/ipc_sim/module.mk - written by make graduate from lab/ipc_sim/Makefile; do not edit.
MODULES       += ipc_sim
ipc_sim.dir      := graduated/ipc_sim
ipc_sim.layer    := 4
ipc_sim.srcs     := kc_rel_transport.c kc_rel_window.c kc_rel_wire.c kc_sim_clock.c kc_sim_dir.c kc_sim_dist.c kc_sim_transport.c kc_sim_words.c
ipc_sim.services :=
ipc_sim.uses     := base/kc_bytes.h sched/kc_sched_svc.h
ipc_sim.public   := kcoro/sim.h kcoro/rel.h
