# core/src/chan/module.mk - channels, select and zero-copy descriptors
# (layer 3), built on graduated/waiter_token and the execution layer's
# services.
MODULES       += chan
chan.dir      := core/src/chan
chan.layer    := 3
chan.srcs     := kc_chan.c kc_chan_locked.c kc_chan_seq.c kc_chan_ops.c kc_chan_park.c \
                 kc_chan_stats.c kc_select.c kc_select_off.c kc_zdesc.c kc_chan_arena.c \
                 kc_chan_produce.c kc_chan_timer.c kc_actor.c kc_chan_registry.c kc_chan_remote.c \
                 kc_select_remote.c
chan.services := kc_chan_svc.h
chan.uses     := base/kc_debug.h port/kc_futex.h sched/kc_sched_svc.h waiter_token/kc_waiter.h
chan.public   := kcoro/chan.h kcoro/zdesc.h kcoro/produce.h kcoro/chan_timer.h kcoro/chan_typed.h \
                 kcoro/actor.h
