/* kc_monitor_impl.h - internals shared by the exporter's files (core/src/obs).
 *
 * kc_monitor_render.c takes and writes snapshots of the registry (and
 * keeps the clock they are stamped with); kc_monitor.c runs the listener
 * and the connections and only calls down into it. Never installed.
 */
#ifndef KCORO_KC_MONITOR_IMPL_H
#define KCORO_KC_MONITOR_IMPL_H

#include "kcoro/monitor.h"

#include <stdint.h>
#include <stdio.h>

struct objs;

/* Snapshot every registered object (one registry walk).
 * OUT *out: GIVES the snapshots; free with kc__monitor_release.
 * Returns 0 or -ENOMEM. Never blocks on other threads. */
int kc__monitor_take(struct objs **out);
/* Write snapshots to f; returns how many objects, or -EIO. */
int kc__monitor_write(FILE *f, const struct objs *os, kc_monitor_format_t format);
void kc__monitor_release(struct objs *os);
/* Monotonic nanoseconds (kc_monitor_render.c). */
uint64_t kc__monitor_now(void);
/* Write the monitors' own metrics (requests, their durations as a
 * histogram) in Prometheus text. */
void kc__monitor_self_metrics(FILE *f);

#endif /* KCORO_KC_MONITOR_IMPL_H */
