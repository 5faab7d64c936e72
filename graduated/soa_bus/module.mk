# graduated/soa_bus/module.mk - written by make graduate from lab/soa_bus/Makefile; do not edit.
MODULES       += soa_bus
soa_bus.dir      := graduated/soa_bus
soa_bus.layer    := 2
soa_bus.srcs     := kc_bus.c kc_bus_recv.c kc_bus_ring.c
soa_bus.services :=
soa_bus.uses     := sched/kc_sched_svc.h
soa_bus.public   := kcoro/bus.h
