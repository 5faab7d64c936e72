/* kcoro.h - the kcoro umbrella header: include this one.
 *
 * Sections: base vocabulary (errors, timeouts), coroutines, cancellation,
 * parking, the scheduler, timers, I/O, scopes, the arena, descriptors,
 * channels, the broadcast bus, and the distribution layer's transports.
 */
#ifndef KCORO_H
#define KCORO_H

#include "kcoro/base.h"
#include "kcoro/coro.h"
#include "kcoro/cancel.h"
#include "kcoro/park.h"
#include "kcoro/sched.h"
#include "kcoro/timer.h"
#include "kcoro/io.h"
#include "kcoro/scope.h"
#include "kcoro/arena.h"
#include "kcoro/zdesc.h"
#include "kcoro/chan.h"
#include "kcoro/bus.h"
#include "kcoro/transport.h"
#include "kcoro/ipc.h"
#include "kcoro/sim.h"
#include "kcoro/rel.h"
#include "kcoro/mux.h"
#include "kcoro/rsel.h"
#include "kcoro/produce.h"
#include "kcoro/chan_timer.h"
#include "kcoro/context.h"
#include "kcoro/blocking.h"
#include "kcoro/actor.h"
#include "kcoro/registry.h"
#include "kcoro/monitor.h"

#endif /* KCORO_H */
