# Channels and select (layer 3), built on graduated/waiter_token.
CORE_SRCS += $(TOP)/core/src/chan/kc_chan.c $(TOP)/core/src/chan/kc_chan_ops.c \
             $(TOP)/core/src/chan/kc_chan_stats.c \
             $(TOP)/core/src/chan/kc_select.c $(TOP)/core/src/chan/kc_select_off.c
CORE_SRCS += $(TOP)/core/src/chan/kc_zdesc.c $(TOP)/core/src/chan/kc_chan_arena.c
CORE_SRCS += $(TOP)/core/src/chan/kc_chan_produce.c
CORE_SRCS += $(TOP)/core/src/chan/kc_chan_timer.c
CORE_SRCS += $(TOP)/core/src/chan/kc_actor.c
