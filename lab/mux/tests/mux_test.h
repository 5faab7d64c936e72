/* mux_test.h - helpers shared by the mux tests: a connected pair of
 * connections on one scheduler, channels, clocks, scaled counts.
 *
 * Calls are made from the test's thread (every blocking call parks a
 * plain thread) or from coroutines whose results are recorded and
 * asserted on the main stack afterwards (cmocka must never longjmp off a
 * coroutine stack).
 */
#ifndef KCORO_MUX_TEST_H
#define KCORO_MUX_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kcoro/chan.h"
#include "kcoro/ipc.h"
#include "kcoro/mux.h"
#include "kcoro/sched.h"

#define MS ((int64_t)1000000) /* one millisecond in ns */

/* KCORO_TEST_SCALE=N divides big counts (valgrind, qemu). */
static inline long mux_scaled(long n)
{
    const char *s = getenv("KCORO_TEST_SCALE");
    long div = s ? atol(s) : 1;
    if (div < 1)
        div = 1;
    return n / div > 0 ? n / div : 1;
}

static inline int64_t mux_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Two connected ends on one scheduler: `exp` exports, `imp` imports. */
struct mux_env {
    kc_sched_t *s;
    kc_ipc_server_t *srv;
    kc_ipc_conn_t *exp, *imp;
    int accept_rc;
};

static inline int mux_env_accept(void *arg)
{
    struct mux_env *e = arg;
    e->accept_rc = kc_ipc_accept(e->srv, &e->exp, 5000 * MS, NULL);
    return 0;
}

/* Bring e up over "mem:" (unix false) or a UNIX socket, nworkers workers,
 * max_frame 0 for the default. Returns 0 or a negative errno. */
static inline int mux_env_up(struct mux_env *e, bool unix_sock, int nworkers, uint32_t max_frame)
{
    static int n;
    char url[108];
    if (unix_sock) {
        snprintf(url, sizeof url, "unix:/tmp/kc-mux-%d-%d", (int)getpid(), n++);
        unlink(url + 5);
    } else {
        snprintf(url, sizeof url, "mem:mux-%d-%d", (int)getpid(), n++);
    }
    memset(e, 0, sizeof *e);
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = nworkers;
    if (kc_sched_create(&e->s, &so) != 0)
        return -1;
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = e->s;
    o.max_frame = max_frame;
    o.tx_queue_bytes = 1 << 20;
    int rc = kc_ipc_listen(&e->srv, url, &o);
    if (rc < 0)
        return rc;
    kc_task_t *t;
    kc_sched_spawn(e->s, &t, mux_env_accept, e, NULL);
    rc = kc_ipc_connect(&e->imp, url, &o, 5000 * MS, NULL);
    kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
    if (unix_sock)
        unlink(url + 5);
    return rc < 0 ? rc : e->accept_rc;
}

static inline void mux_env_down(struct mux_env *e)
{
    kc_ipc_close(e->imp);
    kc_ipc_close(e->exp);
    kc_ipc_server_close(e->srv);
    kc_sched_destroy(e->s);
}

static inline kc_mux_stats_t mux_stats(kc_ipc_conn_t *c)
{
    kc_mux_stats_t st = {.size = sizeof st};
    kc_mux_stats(c, &st);
    return st;
}

static inline kc_chan_snapshot_t mux_snap(const kc_chan_t *ch)
{
    kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
    kc_chan_snapshot(ch, &s);
    return s;
}

/* Sleep the calling thread for us microseconds. */
static inline void mux_usleep(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

#endif /* KCORO_MUX_TEST_H */
