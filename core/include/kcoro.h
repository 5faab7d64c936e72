/* kcoro.h - the kcoro umbrella header: include this one.
 *
 * Sections: base vocabulary (errors, timeouts), coroutines. Later areas
 * (scheduler, channels, select, descriptors, bus, arena, IPC) join here as
 * they land.
 */
#ifndef KCORO_H
#define KCORO_H

#include "kcoro/base.h"
#include "kcoro/coro.h"

#endif /* KCORO_H */
