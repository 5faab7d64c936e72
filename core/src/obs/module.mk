# core/src/obs/module.mk - the exporter (kc_monitor): the registry over a
# socket as NDJSON and Prometheus text, served from coroutines (layer 3:
# it reads channels, buses, arenas and schedulers through their public
# headers and ends with its scheduler through the lifecycle hooks).
MODULES     += obs
obs.dir     := core/src/obs
obs.layer   := 3
obs.srcs    := kc_monitor.c kc_monitor_render.c
obs.services :=
obs.uses    := sched/kc_sched_hooks.h
obs.public  := kcoro/monitor.h
