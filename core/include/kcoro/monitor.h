/* kcoro/monitor.h - the exporter: the registry over a socket, as NDJSON and Prometheus text.
 *
 * kc_monitor_start() listens on a UNIX socket or a TCP address and serves
 * every registered object (kcoro/registry.h) from coroutines of a
 * scheduler, so a live program can be watched by kcoro-chanmon, scraped by
 * Prometheus, or asked what its tasks are doing. Setting KCORO_MONITOR
 * (for example unix:/run/app.sock or tcp:127.0.0.1:9464) starts one on the
 * first scheduler the program creates, with no code change; that
 * scheduler is then registered, and so is everything else unless
 * KCORO_REGISTRY says otherwise.
 *
 * On a connection the server reads one request at a time:
 *   HTTP/1.1 GET /metrics       Prometheus text exposition (version 0.0.4)
 *   HTTP/1.1 GET /snapshot      one NDJSON snapshot
 *   HTTP/1.1 GET /tasks         the task dump of every registered scheduler
 *   line "snapshot"             one NDJSON snapshot, ended by {"type":"end",...}
 *   line "stream MS"            a snapshot every MS milliseconds (10..60000)
 *                               until the client closes the connection
 *   line "tasks"                task dumps as NDJSON, then the end line
 *   line "arena ID"             kc_arena_dump JSON of the arena with that id
 *   line "metrics"              the Prometheus text, then a line "# EOF"
 * core/docs/OBSERVABILITY.md lists every field and metric.
 */
#ifndef KCORO_MONITOR_H
#define KCORO_MONITOR_H

#include "kcoro/base.h"
#include "kcoro/sched.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque running exporter, from kc_monitor_start to kc_monitor_stop. */
typedef struct kc_monitor kc_monitor_t;

/* KC_MONITOR_ANY_ADDR (in kc_monitor_opts_t.flags) allows a TCP address
 * that is not loopback. Without it only 127.0.0.0/8 is accepted, because
 * the monitor has no authentication. */
#define KC_MONITOR_ANY_ADDR 0x1u

/* KC_MONITOR_FREE_WITH_SCHED (in kc_monitor_opts_t.flags): the monitor is
 * freed with its scheduler, and the handle must not be stopped (how
 * KCORO_MONITOR starts one). */
#define KC_MONITOR_FREE_WITH_SCHED 0x2u

/* Options for kc_monitor_start. Initialise with KC_MONITOR_OPTS_INIT. */
typedef struct kc_monitor_opts {
    uint32_t size;   /* sizeof(kc_monitor_opts_t) */
    uint32_t flags;  /* KC_MONITOR_ANY_ADDR, KC_MONITOR_FREE_WITH_SCHED */
    int max_clients; /* connections served at once; more wait in the backlog; 0 = 16 */
} kc_monitor_opts_t;

/* KC_MONITOR_OPTS_INIT is the initialiser for kc_monitor_opts_t. */
#define KC_MONITOR_OPTS_INIT                                                                       \
    {                                                                                              \
        sizeof(kc_monitor_opts_t), 0, 0                                                            \
    }

/* The formats kc_monitor_render writes. */
typedef enum kc_monitor_format {
    /* One JSON object per registered object and an end line. */
    KC_MONITOR_NDJSON = 0,
    /* Prometheus text exposition format 0.0.4, with # HELP and # TYPE. */
    KC_MONITOR_PROMETHEUS = 1
} kc_monitor_format_t;

/* Listen on url ("unix:/path" or "tcp:A.B.C.D:PORT"; port 0 picks a free
 * one: see kc_monitor_address) and serve from coroutines of s (NULL: the
 * caller's scheduler). A UNIX path left by a dead process is replaced.
 * opts may be NULL. OUT *out: GIVES the monitor; stop it with
 * kc_monitor_stop. The monitor stops serving by itself when s shuts down.
 * Errors: -EINVAL (NULL url or out, unknown scheme, malformed address,
 * path too long, bad opts); -EPERM (s NULL outside a scheduler, or a
 * non-loopback address without KC_MONITOR_ANY_ADDR); -EADDRINUSE; -EPIPE
 * (s is shutting down); -ENOMEM; another negative errno from socket calls.
 * Never blocks. */
KC_API int kc_monitor_start(kc_sched_t *s, const char *url, const kc_monitor_opts_t *opts,
                            kc_monitor_t **out /* OUT */);

/* Stop serving: close the connections, wait for the monitor's coroutines,
 * remove the UNIX socket file and free m. NULL is a no-op. Call it from a
 * thread or a coroutine that is not the monitor's. Errors: -EPERM when
 * called from one of the monitor's own coroutines. Blocks or yields. */
KC_API int kc_monitor_stop(kc_monitor_t *m);

/* Write the address m listens on ("unix:/path", "tcp:127.0.0.1:40123")
 * into buf, like snprintf. Returns the full length or -EINVAL (NULL m, or
 * NULL buf with cap > 0). Never blocks. */
KC_API int kc_monitor_address(const kc_monitor_t *m, char *buf /* OUT */, size_t cap);

/* Write the registry to f in format, as a request would get it. Returns
 * the number of objects written. Errors: -EINVAL (NULL f, bad format);
 * -EIO (writing failed); -ENOMEM. Holds the registry lock while it runs
 * (see kc_registry_foreach). Never blocks on other threads otherwise. */
KC_API int kc_monitor_render(FILE *f, kc_monitor_format_t format);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_MONITOR_H */
