/* kc_test_ipc.h - two connected ends of an IPC connection, for tests.
 *
 * Header-only, like kc_test_util.h: a one-worker scheduler, a listener on
 * a fresh mem: URL, a task accepting while the test connects, both ends
 * checked, and buffered channels to serve over it. The abuse tests of the layers above connections (mux, remote
 * select) start from such a pair. Include it after cmocka.h.
 */
#ifndef KCORO_KC_TEST_IPC_H
#define KCORO_KC_TEST_IPC_H

#include "kcoro.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct kc_test_pair {
    kc_sched_t *s;
    kc_ipc_server_t *srv;
    kc_ipc_conn_t *a; /* the accepted end */
    kc_ipc_conn_t *b; /* the connecting end */
    int accept_rc;
} kc_test_pair_t;

static int kc_test_pair_accept(void *arg)
{
    kc_test_pair_t *p = arg;
    p->accept_rc = kc_ipc_accept(p->srv, &p->a, (int64_t)5000 * 1000000, NULL);
    return 0;
}

/* Connect p's two ends over "mem:<tag>-<pid>-<n>" (asserts each step). */
static inline void kc_test_pair_up(kc_test_pair_t *p, const char *tag)
{
    static int n;
    char url[96];
    snprintf(url, sizeof url, "mem:%s-%d-%d", tag, (int)getpid(), n++);
    memset(p, 0, sizeof *p);
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    assert_int_equal(kc_sched_create(&p->s, &so), 0);
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = p->s;
    assert_int_equal(kc_ipc_listen(&p->srv, url, &o), 0);
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(p->s, &t, kc_test_pair_accept, p, NULL), 0);
    assert_int_equal(kc_ipc_connect(&p->b, url, &o, (int64_t)5000 * 1000000, NULL), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(p->accept_rc, 0);
}

/* A buffered channel of cap elements of elem bytes (asserts it was made). */
static inline kc_chan_t *kc_test_buffered(size_t cap, size_t elem)
{
    kc_chan_t *ch = NULL;
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = cap;
    o.elem_size = elem;
    assert_int_equal(kc_chan_create(&ch, &o), 0);
    return ch;
}

/* Close what p still has (an end a test closed itself is NULL). */
static inline void kc_test_pair_down(kc_test_pair_t *p)
{
    if (p->b != NULL)
        kc_ipc_close(p->b);
    if (p->a != NULL)
        kc_ipc_close(p->a);
    kc_ipc_server_close(p->srv);
    kc_sched_destroy(p->s);
}

#endif /* KCORO_KC_TEST_IPC_H */
