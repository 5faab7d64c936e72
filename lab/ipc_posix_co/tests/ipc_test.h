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
#include <unistd.h>

#include "kcoro/sched.h"
#include "kcoro/transport.h"

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

#endif /* KCORO_IPC_TEST_H */
