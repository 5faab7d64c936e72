/* test_abuse_rsel.c - kcoro/rsel.h called as a careless user would.
 *
 * Owners, clients, imports, attachments and pipes with NULL handles and
 * outputs, out-of-range peer numbers and sides, negative leases, delays
 * and jitters, counters whose size is wrong, descriptor channels and
 * elements too large for an attachment, timeouts of zero, negative and
 * huge (kcoro/base.h's rule: a negative one tries once), and stale use: a
 * client destroyed while a channel it imported lives, a second attachment
 * or owner of the same channel on one connection, a send through a pipe
 * after its cut. Each returns the errno kcoro/rsel.h documents and nothing
 * leaks (ASan, Valgrind). mk/lint-abuse.sh holds every public header to
 * such a file.
 */
#include "kcoro.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_ipc.h"

#define MS ((int64_t)1000000)

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void nothing(void *self, const uint8_t *msg, size_t len)
{
    (void)self;
    (void)msg;
    (void)len;
}

static int refuse(void *ctx, const uint8_t *msg, size_t len)
{
    (void)ctx;
    (void)msg;
    (void)len;
    return -EPIPE;
}

static void test_owner(void **state)
{
    (void)state;
    kc_chan_t *ch = kc_test_buffered(4, sizeof(long));
    kc_rsel_owner_t *o = NULL;
    assert_int_equal(kc_rsel_owner_create(NULL, ch, 1, 0), -EINVAL);
    assert_int_equal(kc_rsel_owner_create(&o, NULL, 1, 0), -EINVAL);
    assert_int_equal(kc_rsel_owner_create(&o, ch, 1, -1), -EINVAL);
    assert_int_equal(kc_rsel_owner_create(&o, ch, 1, INT64_MIN), -EINVAL);
    assert_null(o);
    kc_chan_t *desc = NULL;
    kc_chan_opts_t dopts = KC_CHAN_OPTS_INIT; /* a rendezvous channel of descriptors */
    assert_int_equal(kc_chan_create(&desc, &dopts), 0);
    assert_int_equal(kc_rsel_owner_create(&o, desc, 1, 0), -EINVAL);
    assert_null(o);
    assert_int_equal(kc_chan_destroy(desc), 0);
    /* a huge lease is capped, not refused */
    assert_int_equal(kc_rsel_owner_create(&o, ch, UINT32_MAX, INT64_MAX), 0);

    kc_rsel_endpoint_t ep;
    assert_int_equal(kc_rsel_owner_peer(NULL, 0, &ep), -EINVAL);
    assert_int_equal(kc_rsel_owner_peer(o, 0, NULL), -EINVAL);
    assert_int_equal(kc_rsel_owner_peer(o, -1, &ep), -EINVAL);
    assert_int_equal(kc_rsel_owner_peer(o, KC_RSEL_MAX_PEERS, &ep), -EINVAL);
    assert_int_equal(kc_rsel_owner_peer(o, INT_MAX, &ep), -EINVAL);
    assert_int_equal(kc_rsel_owner_peer(o, KC_RSEL_MAX_PEERS - 1, &ep), 0);
    assert_non_null(ep.deliver);

    kc_rsel_link_t l = {refuse, NULL}, none = {NULL, NULL};
    assert_int_equal(kc_rsel_owner_link(NULL, 0, &l), -EINVAL);
    assert_int_equal(kc_rsel_owner_link(o, 0, NULL), -EINVAL);
    assert_int_equal(kc_rsel_owner_link(o, 0, &none), -EINVAL);
    assert_int_equal(kc_rsel_owner_link(o, -1, &l), -EINVAL);
    assert_int_equal(kc_rsel_owner_link(o, KC_RSEL_MAX_PEERS, &l), -EINVAL);
    assert_int_equal(kc_rsel_owner_link(o, 0, &l), 0);

    /* garbage delivered to an owner changes nothing */
    uint8_t junk[64];
    memset(junk, 0xff, sizeof junk);
    ep.deliver(ep.self, junk, sizeof junk);
    ep.deliver(ep.self, junk, 3);
    ep.deliver(ep.self, junk, 0);

    kc_rsel_owner_stats_t st = KC_RSEL_OWNER_STATS_INIT;
    assert_int_equal(kc_rsel_owner_stats(NULL, &st), -EINVAL);
    assert_int_equal(kc_rsel_owner_stats(o, NULL), -EINVAL);
    st.size = 0;
    assert_int_equal(kc_rsel_owner_stats(o, &st), -EINVAL);
    st.size = sizeof(st) - 1;
    assert_int_equal(kc_rsel_owner_stats(o, &st), -EINVAL);
    st.size = sizeof(st);
    assert_int_equal(kc_rsel_owner_stats(o, &st), 0);
    assert_int_equal(st.taken, 0);
    assert_int_equal(st.held, 0);

    long v = 5;
    assert_int_equal(kc_chan_send(ch, &v, 0, NULL), 0);
    uint64_t left = 9;
    kc_rsel_owner_destroy(o, &left);
    assert_int_equal(left, 0);
    assert_int_equal(kc_chan_len(ch), 1); /* never taken: still in the channel */
    kc_rsel_owner_destroy(NULL, &left);
    kc_rsel_owner_destroy(NULL, NULL);
    assert_int_equal(kc_chan_try_recv(ch, &v), 0);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_client(void **state)
{
    (void)state;
    kc_rsel_client_t *c = NULL;
    assert_int_equal(kc_rsel_client_create(NULL, 0), -EINVAL);
    assert_int_equal(kc_rsel_client_create(&c, -1), -EINVAL);
    assert_int_equal(kc_rsel_client_create(&c, INT64_MIN), -EINVAL);
    assert_null(c);
    assert_int_equal(kc_rsel_client_create(&c, INT64_MAX), 0);

    kc_rsel_endpoint_t ep;
    assert_int_equal(kc_rsel_client_endpoint(NULL, &ep), -EINVAL);
    assert_int_equal(kc_rsel_client_endpoint(c, NULL), -EINVAL);
    assert_int_equal(kc_rsel_client_endpoint(c, &ep), 0);
    uint8_t junk[40];
    memset(junk, 0x22, sizeof junk);
    ep.deliver(ep.self, junk, sizeof junk); /* not a message: ignored */
    ep.deliver(ep.self, junk, 1);

    kc_rsel_link_t l = {refuse, NULL}, none = {NULL, NULL};
    assert_int_equal(kc_rsel_client_link(NULL, &l), -EINVAL);
    assert_int_equal(kc_rsel_client_link(c, NULL), -EINVAL);
    assert_int_equal(kc_rsel_client_link(c, &none), -EINVAL);
    assert_int_equal(kc_rsel_client_link(c, &l), 0);

    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 4;
    o.elem_size = sizeof(long);
    kc_chan_opts_t desc = KC_CHAN_OPTS_INIT; /* elem_size 0: descriptors */
    kc_chan_t *x = NULL;
    assert_int_equal(kc_rsel_import(NULL, c, 1, &o), -EINVAL);
    assert_int_equal(kc_rsel_import(&x, NULL, 1, &o), -EINVAL);
    assert_int_equal(kc_rsel_import(&x, c, 1, NULL), -EINVAL);
    assert_int_equal(kc_rsel_import(&x, c, 1, &desc), -EINVAL);
    kc_chan_opts_t bad = o;
    bad.capacity = 0; /* a buffered channel needs a capacity */
    assert_int_equal(kc_rsel_import(&x, c, 1, &bad), -EINVAL);
    bad.capacity = SIZE_MAX;
    assert_int_equal(kc_rsel_import(&x, c, 1, &bad), -EINVAL);
    bad = o;
    bad.elem_size = SIZE_MAX;
    assert_int_equal(kc_rsel_import(&x, c, 1, &bad), -EINVAL);
    bad = o;
    bad.kind = (kc_chan_kind_t)99;
    assert_int_equal(kc_rsel_import(&x, c, 1, &bad), -EINVAL);
    assert_null(x);
    assert_int_equal(kc_rsel_import(&x, c, UINT32_MAX, &o), 0);

    /* the link refuses every message: calls on the channel fail, never hang */
    long v = 1;
    assert_int_equal(kc_chan_try_recv(x, &v), -ECONNRESET);
    assert_int_equal(kc_chan_send(x, &v, 10 * MS, NULL), -ECONNRESET);

    kc_rsel_client_stats_t st = KC_RSEL_CLIENT_STATS_INIT;
    assert_int_equal(kc_rsel_client_stats(NULL, &st), -EINVAL);
    assert_int_equal(kc_rsel_client_stats(c, NULL), -EINVAL);
    st.size = 4;
    assert_int_equal(kc_rsel_client_stats(c, &st), -EINVAL);
    st.size = sizeof(st);
    assert_int_equal(kc_rsel_client_stats(c, &st), 0);
    assert_int_equal(st.commits, 0);

    /* stale: the client still has a channel */
    assert_int_equal(kc_rsel_client_destroy(c), -EBUSY);
    assert_int_equal(kc_chan_destroy(x), 0);
    assert_int_equal(kc_rsel_client_destroy(c), 0);
    assert_int_equal(kc_rsel_client_destroy(NULL), 0);
}

static void test_pipe(void **state)
{
    (void)state;
    kc_rsel_endpoint_t e = {nothing, NULL, NULL}, none = {NULL, NULL, NULL};
    kc_rsel_pipe_t *p = NULL;
    kc_rsel_pipe_opts_t o = KC_RSEL_PIPE_OPTS_INIT;
    assert_int_equal(kc_rsel_pipe_create(NULL, &o, &e, &e), -EINVAL);
    assert_int_equal(kc_rsel_pipe_create(&p, &o, NULL, &e), -EINVAL);
    assert_int_equal(kc_rsel_pipe_create(&p, &o, &e, NULL), -EINVAL);
    assert_int_equal(kc_rsel_pipe_create(&p, &o, &none, &e), -EINVAL);
    assert_int_equal(kc_rsel_pipe_create(&p, &o, &e, &none), -EINVAL);
    o.delay_ns = -1;
    assert_int_equal(kc_rsel_pipe_create(&p, &o, &e, &e), -EINVAL);
    o.delay_ns = 0;
    o.jitter_ns = INT64_MIN;
    assert_int_equal(kc_rsel_pipe_create(&p, &o, &e, &e), -EINVAL);
    o.jitter_ns = 0;
    o.size = 3;
    assert_int_equal(kc_rsel_pipe_create(&p, &o, &e, &e), -EINVAL);
    assert_null(p);
    assert_int_equal(kc_rsel_pipe_create(&p, NULL, &e, &e), 0);

    uint8_t msg[8] = {0};
    assert_int_equal(kc_rsel_pipe_send(NULL, 0, msg, sizeof msg), -EINVAL);
    assert_int_equal(kc_rsel_pipe_send(p, -1, msg, sizeof msg), -EINVAL);
    assert_int_equal(kc_rsel_pipe_send(p, 2, msg, sizeof msg), -EINVAL);
    assert_int_equal(kc_rsel_pipe_send(p, 0, NULL, sizeof msg), -EINVAL);
    assert_int_equal(kc_rsel_pipe_send(p, 0, msg, 0), 0); /* empty: delivered, ignored */

    kc_rsel_link_t l;
    assert_int_equal(kc_rsel_pipe_link(NULL, 0, &l), -EINVAL);
    assert_int_equal(kc_rsel_pipe_link(p, 0, NULL), -EINVAL);
    assert_int_equal(kc_rsel_pipe_link(p, 5, &l), -EINVAL);
    assert_int_equal(kc_rsel_pipe_link(p, INT_MIN, &l), -EINVAL);
    assert_int_equal(kc_rsel_pipe_link(p, 1, &l), 0);
    assert_int_equal(l.send(l.ctx, msg, sizeof msg), 0);

    assert_int_equal(kc_rsel_pipe_messages(NULL), 0);
    for (int i = 0; i < 30000 && kc_rsel_pipe_messages(p) < 2; i++)
        sleep_ms(1);
    assert_int_equal(kc_rsel_pipe_messages(p), 2);

    kc_rsel_pipe_cut(NULL);
    kc_rsel_pipe_cut(p);
    kc_rsel_pipe_cut(p);                                                /* idempotent */
    assert_int_equal(kc_rsel_pipe_send(p, 0, msg, sizeof msg), -EPIPE); /* stale */
    assert_int_equal(l.send(l.ctx, msg, sizeof msg), -EPIPE);
    kc_rsel_pipe_destroy(p);
    kc_rsel_pipe_destroy(NULL);
}

struct att {
    kc_ipc_conn_t *c;
    kc_rsel_attach_t *a;
    int rc;
};

static void *attach_owners(void *arg)
{
    struct att *at = arg;
    at->rc = kc_rsel_attach(&at->a, at->c, KC_RSEL_OWNER_SIDE, 10000 * MS);
    return NULL;
}

static void test_attach(void **state)
{
    (void)state;
    kc_test_pair_t p;
    kc_test_pair_up(&p, "abuse-rsel");
    kc_rsel_attach_t *a = NULL, *b = NULL;
    assert_int_equal(kc_rsel_attach(NULL, p.a, KC_RSEL_OWNER_SIDE, 0), -EINVAL);
    assert_int_equal(kc_rsel_attach(&a, NULL, KC_RSEL_OWNER_SIDE, 0), -EINVAL);
    assert_int_equal(kc_rsel_attach(&a, p.a, 0, 0), -EINVAL);
    assert_int_equal(kc_rsel_attach(&a, p.a, 3, 0), -EINVAL);
    assert_int_equal(kc_rsel_attach(&a, p.a, -1, 0), -EINVAL);
    /* nobody attaches at the other end: each timeout tries once or waits */
    assert_int_equal(kc_rsel_attach(&a, p.a, KC_RSEL_OWNER_SIDE, 0), -ETIME);
    assert_int_equal(kc_rsel_attach(&a, p.a, KC_RSEL_OWNER_SIDE, -5), -ETIME);
    assert_int_equal(kc_rsel_attach(&a, p.a, KC_RSEL_OWNER_SIDE, INT64_MIN), -ETIME);
    assert_int_equal(kc_rsel_attach(&a, p.a, KC_RSEL_OWNER_SIDE, 20 * MS), -ETIME);
    assert_null(a);
    /* the client's side exports first; the owners' side then finds it */
    assert_int_equal(kc_rsel_attach(&b, p.b, KC_RSEL_CLIENT_SIDE, 0), -ETIME);
    assert_null(b);
    kc_chan_t *ch = kc_test_buffered(4, sizeof(long));
    kc_chan_t *big = kc_test_buffered(4, KC_RSEL_ATTACH_ELEM_MAX + 1);
    kc_rsel_owner_t *o, *o2, *ob;
    assert_int_equal(kc_rsel_owner_create(&o, ch, 1, 0), 0);
    assert_int_equal(kc_rsel_owner_create(&o2, ch, 1, 0), 0); /* same number as o */
    assert_int_equal(kc_rsel_owner_create(&ob, big, 2, 0), 0);
    kc_rsel_client_t *cl, *cl2;
    assert_int_equal(kc_rsel_client_create(&cl, 0), 0);
    assert_int_equal(kc_rsel_client_create(&cl2, 0), 0);
    /* both ends attach at once (the owners' side from a thread; a huge
     * timeout saturates) */
    struct att at = {p.a, NULL, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, attach_owners, &at), 0);
    assert_int_equal(kc_rsel_attach(&b, p.b, KC_RSEL_CLIENT_SIDE, INT64_MAX), 0);
    pthread_join(th, NULL);
    assert_int_equal(at.rc, 0);
    a = at.a;
    assert_non_null(a);
    assert_non_null(b);
    /* stale: a second attachment of the same side on the connection */
    kc_rsel_attach_t *again = NULL;
    assert_int_equal(kc_rsel_attach(&again, p.a, KC_RSEL_OWNER_SIDE, 0), -EEXIST);
    assert_null(again);

    assert_int_equal(kc_rsel_attach_owner(NULL, o, 0), -EINVAL);
    assert_int_equal(kc_rsel_attach_owner(a, NULL, 0), -EINVAL);
    assert_int_equal(kc_rsel_attach_owner(b, o, 0), -EINVAL); /* the client's side */
    assert_int_equal(kc_rsel_attach_owner(a, o, -1), -EINVAL);
    assert_int_equal(kc_rsel_attach_owner(a, o, KC_RSEL_MAX_PEERS), -EINVAL);
    assert_int_equal(kc_rsel_attach_owner(a, ob, 0), -EMSGSIZE);
    assert_int_equal(kc_rsel_attach_owner(a, o, 0), 0);
    assert_int_equal(kc_rsel_attach_owner(a, o2, 0), -EBUSY);

    assert_int_equal(kc_rsel_attach_client(NULL, cl), -EINVAL);
    assert_int_equal(kc_rsel_attach_client(b, NULL), -EINVAL);
    assert_int_equal(kc_rsel_attach_client(a, cl), -EINVAL); /* the owners' side */
    assert_int_equal(kc_rsel_attach_client(b, cl), 0);
    assert_int_equal(kc_rsel_attach_client(b, cl2), -EBUSY);

    /* and it works: one element through a select */
    kc_chan_opts_t co = KC_CHAN_OPTS_INIT;
    co.kind = KC_CHAN_BUFFERED;
    co.capacity = 4;
    co.elem_size = sizeof(long);
    kc_chan_t *x;
    assert_int_equal(kc_rsel_import(&x, cl, 1, &co), 0);
    long v = 77, got = 0;
    assert_int_equal(kc_chan_send(ch, &v, 0, NULL), 0);
    kc_chan_clause_t c1[1] = {KC_CHAN_CLAUSE_RECV_INIT(x, &got)};
    assert_int_equal(kc_chan_select(c1, 1, 0, 10000 * MS, NULL), 0);
    assert_int_equal(c1[0].result, 0);
    assert_int_equal(got, 77);

    kc_rsel_detach(b);
    kc_rsel_detach(a);
    kc_rsel_detach(NULL);
    /* detached: the channel reports the loss, nothing hangs */
    assert_int_equal(kc_chan_recv(x, &got, 1000 * MS, NULL), -ECONNRESET);
    assert_int_equal(kc_chan_destroy(x), 0);
    assert_int_equal(kc_rsel_client_destroy(cl), 0);
    assert_int_equal(kc_rsel_client_destroy(cl2), 0);
    kc_rsel_owner_destroy(o, NULL);
    kc_rsel_owner_destroy(o2, NULL);
    kc_rsel_owner_destroy(ob, NULL);
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(kc_chan_destroy(big), 0);
    kc_test_pair_down(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner),
        cmocka_unit_test(test_client),
        cmocka_unit_test(test_pipe),
        cmocka_unit_test(test_attach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
