/* ipc_test.h - helpers shared by the ipc_posix_co tests.
 *
 * Header-only: unique socket paths under /tmp, running a function as a
 * scheduler coroutine and joining it, scaled counts. Results computed on a
 * coroutine stack are recorded and asserted on the main stack afterwards
 * (cmocka must never longjmp off a coroutine stack).
 */
#ifndef KCORO_IPC_TEST_H
#define KCORO_IPC_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kcoro/cancel.h"
#include "kcoro/ipc.h"
#include "kcoro/sched.h"
#include "kcoro/transport.h"

#include <stdatomic.h>

/* KCORO_TEST_SCALE=N divides big counts (valgrind, qemu); KCORO_TEST_FULL=1
 * multiplies them by 10. */
static inline long ipc_scaled(long n)
{
    const char *s = getenv("KCORO_TEST_SCALE");
    const char *full = getenv("KCORO_TEST_FULL");
    long div = s ? atol(s) : 1;
    if (div < 1)
        div = 1;
    if (full != NULL && atoi(full) == 1)
        n *= 10;
    return n / div > 0 ? n / div : 1;
}

/* A fresh "unix:/tmp/kc-ipc-<pid>-<tag>-<n>" url (and the bare path). */
static inline void ipc_unix_url(char *url, size_t cap, const char *tag)
{
    static int n;
    snprintf(url, cap, "unix:/tmp/kc-ipc-%d-%s-%d", (int)getpid(), tag, n++);
    unlink(url + 5);
}

/* A fresh "mem:<tag>-<n>" url. */
static inline void ipc_mem_url(char *url, size_t cap, const char *tag)
{
    static int n;
    snprintf(url, cap, "mem:%s-%d-%d", tag, (int)getpid(), n++);
}

/* Run fn(arg) on a scheduler with nworkers workers, as `count` coroutines
 * (fn gets arg + i * stride), and join them all; their exit statuses are
 * summed into the return value (0: every one returned 0). */
static inline int ipc_run(int nworkers, int count, int (*fn)(void *), char *arg, size_t stride)
{
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.nworkers = nworkers;
    kc_sched_t *s = NULL;
    if (kc_sched_create(&s, &o) != 0)
        return -1000;
    kc_task_t **t = calloc((size_t)count, sizeof *t);
    int bad = 0;
    for (int i = 0; i < count; i++)
        if (kc_sched_spawn(s, &t[i], fn, arg + (size_t)i * stride, NULL) != 0)
            bad++, t[i] = NULL;
    for (int i = 0; i < count; i++) {
        int st = 0;
        if (t[i] == NULL)
            continue;
        if (kc_sched_join(t[i], &st, KC_NO_TIMEOUT, NULL) != 0)
            bad++;
        else if (st != 0)
            bad++;
    }
    free(t);
    kc_sched_destroy(s);
    return bad;
}

/* ---- an RPC test environment: a scheduler, a router with the commands
 * below, a server and one connection to it from the main thread. */

enum {
    CMD_ECHO = 1,
    CMD_FAIL = 2,
    CMD_HANG = 3,
    CMD_SLOW = 4
};

#define MS ((int64_t)1000000) /* one millisecond in ns */

/* What the handlers saw (atomics: handlers run on workers). */
struct ipc_seen {
    atomic_long calls, cancelled, hang_running;
};
static struct ipc_seen ipc_seen __attribute__((unused));

/* CMD_ECHO: the argument back. */
static inline int h_echo(const kc_rpc_req_t *r, void *arg, void **out, size_t *len)
{
    (void)arg;
    atomic_fetch_add(&ipc_seen.calls, 1);
    if (r->len == 0)
        return 0;
    *out = malloc(r->len);
    if (*out == NULL)
        return -ENOMEM;
    memcpy(*out, r->payload, r->len);
    *len = r->len;
    return 0;
}

/* CMD_FAIL: returns minus the int in its argument. */
static inline int h_fail(const kc_rpc_req_t *r, void *arg, void **out, size_t *len)
{
    (void)arg;
    (void)out;
    (void)len;
    int e = 0;
    if (r->len == sizeof e)
        memcpy(&e, r->payload, sizeof e);
    return -e;
}

/* CMD_HANG: waits for its cancellation, then reports it. */
static inline int h_hang(const kc_rpc_req_t *r, void *arg, void **out, size_t *len)
{
    (void)arg;
    (void)out;
    (void)len;
    atomic_fetch_add(&ipc_seen.hang_running, 1);
    int rc = kc_sched_sleep(3600 * 1000 * MS, r->cancel);
    atomic_fetch_sub(&ipc_seen.hang_running, 1);
    if (rc == -ECANCELED)
        atomic_fetch_add(&ipc_seen.cancelled, 1);
    return rc;
}

/* CMD_SLOW: sleeps the milliseconds in its argument (cancellable), echoes. */
static inline int h_slow(const kc_rpc_req_t *r, void *arg, void **out, size_t *len)
{
    int ms = 0;
    if (r->len >= sizeof ms)
        memcpy(&ms, r->payload, sizeof ms);
    int rc = kc_sched_sleep(ms * MS, r->cancel);
    if (rc == -ECANCELED) {
        atomic_fetch_add(&ipc_seen.cancelled, 1);
        return rc;
    }
    return h_echo(r, arg, out, len);
}

struct ipc_env {
    kc_sched_t *s;
    kc_rpc_router_t *router;
    kc_ipc_server_t *srv;
    kc_ipc_conn_t *svc; /* the server's end */
    kc_ipc_conn_t *cli; /* the client's end */
    kc_ipc_opts_t opts;
    char url[108];
    int accept_rc;
};

static inline int env_accept(void *arg)
{
    struct ipc_env *e = arg;
    e->accept_rc = kc_ipc_accept(e->srv, &e->svc, 5000 * MS, NULL);
    return 0;
}

/* Bring up e on url with nworkers; opts (may be NULL) for both ends. */
static inline int env_up(struct ipc_env *e, const char *url, int nworkers, const kc_ipc_opts_t *o)
{
    memset(e, 0, sizeof *e);
    memset(&ipc_seen, 0, sizeof ipc_seen);
    snprintf(e->url, sizeof e->url, "%s", url);
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = nworkers;
    if (kc_sched_create(&e->s, &so) != 0 || kc_rpc_router_create(&e->router) != 0)
        return -1;
    kc_rpc_router_add(e->router, CMD_ECHO, h_echo, NULL);
    kc_rpc_router_add(e->router, CMD_FAIL, h_fail, NULL);
    kc_rpc_router_add(e->router, CMD_HANG, h_hang, NULL);
    kc_rpc_router_add(e->router, CMD_SLOW, h_slow, NULL);
    if (o)
        e->opts = *o;
    else
        e->opts = (kc_ipc_opts_t)KC_IPC_OPTS_INIT;
    e->opts.sched = e->s;
    e->opts.router = e->router;
    int rc = kc_ipc_listen(&e->srv, url, &e->opts);
    if (rc < 0)
        return rc;
    kc_task_t *t;
    kc_sched_spawn(e->s, &t, env_accept, e, NULL);
    rc = kc_ipc_connect(&e->cli, url, &e->opts, 5000 * MS, NULL);
    kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
    return rc < 0 ? rc : e->accept_rc;
}

static inline void env_down(struct ipc_env *e)
{
    kc_ipc_close(e->cli);
    kc_ipc_close(e->svc);
    kc_ipc_server_close(e->srv);
    kc_sched_destroy(e->s);
    kc_rpc_router_destroy(e->router);
}

static inline kc_ipc_stats_t env_stats(kc_ipc_conn_t *c)
{
    kc_ipc_stats_t st = {.size = sizeof st};
    kc_ipc_stats(c, &st);
    return st;
}

/* Sleep the calling thread for us microseconds (POSIX nanosleep). */
static inline void ipc_usleep(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static inline int64_t ipc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The server's stats after the client holds its last reply: a reply is
 * counted once its frame is out, which may follow its arrival at the peer,
 * and its handler leaves the map after that. Wait (bounded, 5 s) until
 * replies_sent reaches n and no handler is left, then return the stats. */
static inline kc_ipc_stats_t env_settled(kc_ipc_conn_t *svc, uint64_t n)
{
    kc_ipc_stats_t st = env_stats(svc);
    for (int64_t t0 = ipc_now();
         (st.replies_sent < n || st.handlers != 0) && ipc_now() - t0 < 5000000000;
         st = env_stats(svc))
        ipc_usleep(1000);
    return st;
}

#endif /* KCORO_IPC_TEST_H */
