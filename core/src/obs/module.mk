# The exporter (kc_monitor): the registry over a socket as NDJSON and
# Prometheus text, served from coroutines (layer 3: it uses channels,
# buses, arenas and the scheduler through their public headers).
CORE_SRCS += $(TOP)/core/src/obs/kc_monitor.c $(TOP)/core/src/obs/kc_monitor_render.c
