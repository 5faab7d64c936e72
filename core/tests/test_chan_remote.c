/* test_chan_remote.c - the remote-channel hook of core/src/chan (kc_chan_svc.h).
 *
 * A fake remote backend (a local buffered channel behind the operations
 * table) shows what the hook owes every remote kind: the public calls
 * reach the operations with their arguments, results come back unchanged,
 * the channel layer counts them (sends, receives, bytes, failures by
 * code), a close reaches the backend once and a remote close is seen by
 * kc_chan_is_closed, destroy waits for the backend's word, leftovers go
 * to the undelivered callback, and select refuses the clauses of a backend
 * without select operations (test_select_remote.c has one with them).
 */
#include "chan/kc_chan_svc.h"
#include "kcoro.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

struct fake {
    kc_chan_t *inner; /* where the elements really go */
    kc_chan_t *outer; /* the remote channel, for kc__chan_remote_undelivered */
    int closes, close_reason;
    int busy; /* destroy says -EBUSY while set */
    int64_t last_timeout;
};

static int f_send(void *impl, const void *elem, int64_t t, const kc_cancel_t *c)
{
    struct fake *f = impl;
    f->last_timeout = t;
    return kc_chan_send(f->inner, elem, t, c);
}

static int f_recv(void *impl, void *out, int64_t t, const kc_cancel_t *c)
{
    struct fake *f = impl;
    f->last_timeout = t;
    return kc_chan_recv(f->inner, out, t, c);
}

static void f_close(void *impl, int reason)
{
    struct fake *f = impl;
    f->closes++;
    f->close_reason = reason;
}

static size_t f_len(void *impl)
{
    return kc_chan_len(((struct fake *)impl)->inner);
}

static int f_destroy(void *impl)
{
    struct fake *f = impl;
    if (f->busy)
        return -EBUSY;
    int v;
    while (kc_chan_try_recv(f->inner, &v) == 0)
        kc__chan_remote_undelivered(f->outer, &v);
    kc_chan_destroy(f->inner);
    return 0;
}

static const kc__chan_remote_ops_t fake_ops = {f_send, f_recv, f_close, f_len, f_destroy};

static int undelivered_sum;
static void on_undelivered(void *elem, size_t size, void *arg)
{
    (void)arg;
    assert_int_equal(size, sizeof(int));
    undelivered_sum += *(int *)elem;
}

static kc_chan_t *make(struct fake *f, size_t cap)
{
    *f = (struct fake){0};
    assert_int_equal(kc_chan_make(&f->inner, KC_CHAN_BUFFERED, cap, sizeof(int)), 0);
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = cap;
    o.elem_size = sizeof(int);
    o.name = "remote";
    o.on_undelivered = on_undelivered;
    assert_int_equal(kc__chan_remote_create(&f->outer, &o, &fake_ops, f), 0);
    assert_ptr_equal(kc__chan_remote_impl(f->outer), f);
    return f->outer;
}

static void test_remote_calls_reach_the_ops_and_are_counted(void **state)
{
    (void)state;
    struct fake f;
    kc_chan_t *ch = make(&f, 2);
    int v = 7, out = 0;
    assert_int_equal(kc_chan_send(ch, &v, 1000000, NULL), 0);
    assert_int_equal(f.last_timeout, 1000000);
    assert_int_equal(kc_chan_try_send(ch, &v), 0);
    assert_int_equal(f.last_timeout, 0);
    assert_int_equal(kc_chan_len(ch), 2);
    assert_int_equal(kc_chan_try_send(ch, &v), -EAGAIN); /* full: the backend's answer */
    assert_int_equal(kc_chan_recv(ch, &out, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(out, 7);
    assert_int_equal(f.last_timeout, KC_NO_TIMEOUT);
    assert_int_equal(kc_chan_send(ch, &v, 1000, NULL), 0);
    assert_int_equal(kc_chan_send(ch, &v, 1000, NULL), -ETIME);
    /* descriptors are not a remote channel's elements */
    kc_zdesc_t d;
    assert_int_equal(kc_zdesc_init(&d, &v, sizeof v, 0), 0);
    assert_int_equal(kc_chan_send_desc(ch, &d, 0, NULL), -EINVAL);
    kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
    assert_int_equal(kc_chan_snapshot(ch, &s), 0);
    assert_int_equal(s.sends, 3);
    assert_int_equal(s.receives, 1);
    assert_int_equal(s.bytes_sent, 3 * sizeof(int));
    assert_int_equal(s.occupancy, 2);
    assert_int_equal(s.failures.eagain, 1);
    assert_int_equal(s.failures.etime, 1);
    assert_int_equal(s.failures.einval, 1);
    char buf[512];
    assert_true(kc_chan_dump(ch, buf, sizeof buf) > 0);
    /* cancellation comes first, before the backend is asked */
    kc_cancel_t *c;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    kc_cancel_trigger(c);
    f.last_timeout = 123;
    assert_int_equal(kc_chan_recv(ch, &out, KC_NO_TIMEOUT, c), -ECANCELED);
    assert_int_equal(f.last_timeout, 123);
    kc_cancel_destroy(c);
    /* destroy waits for the backend; leftovers are undelivered */
    f.busy = 1;
    assert_int_equal(kc_chan_destroy(ch), -EBUSY);
    f.busy = 0;
    undelivered_sum = 0;
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(undelivered_sum, 14);
}

static void test_remote_close_local_and_from_the_peer(void **state)
{
    (void)state;
    struct fake f;
    kc_chan_t *ch = make(&f, 4);
    assert_false(kc_chan_is_closed(ch));
    assert_int_equal(kc_chan_close_with(ch, -ECONNRESET), 0);
    assert_int_equal(kc_chan_close(ch), -EPIPE);
    assert_int_equal(f.closes, 1);
    assert_int_equal(f.close_reason, -ECONNRESET);
    assert_true(kc_chan_is_closed(ch));
    int v = 1;
    assert_int_equal(kc_chan_send(ch, &v, 0, NULL), -ECONNRESET); /* the reason */
    assert_int_equal(kc_chan_destroy(ch), 0);

    ch = make(&f, 4);
    assert_true(kc__chan_remote_closed(ch, 0));
    assert_false(kc__chan_remote_closed(ch, -ECONNRESET)); /* the first wins */
    assert_true(kc_chan_is_closed(ch));
    assert_int_equal(kc_chan_close(ch), -EPIPE);
    assert_int_equal(f.closes, 0); /* a peer's close is not sent back */
    assert_int_equal(kc_chan_send(ch, &v, 0, NULL), -EPIPE);
    kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
    assert_int_equal(kc_chan_snapshot(ch, &s), 0);
    assert_int_equal(s.failures.epipe, 1);
    assert_true(s.closed);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_remote_refuses_select_and_bad_opts(void **state)
{
    (void)state;
    struct fake f;
    kc_chan_t *ch = make(&f, 4);
    int v = 0;
    kc_chan_clause_t cl[1] = {KC_CHAN_CLAUSE_RECV_INIT(ch, &v)};
    assert_int_equal(kc_chan_select(cl, 1, 0, 0, NULL), -ENOTSUP);
    assert_int_equal(kc_chan_destroy(ch), 0);

    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    kc_chan_t *x = NULL;
    assert_int_equal(kc__chan_remote_create(&x, &o, &fake_ops, NULL), -ENOTSUP); /* descriptors */
    o.elem_size = 4;
    assert_int_equal(kc__chan_remote_create(NULL, &o, &fake_ops, NULL), -EINVAL);
    assert_int_equal(kc__chan_remote_create(&x, &o, NULL, NULL), -EINVAL);
    assert_null(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remote_calls_reach_the_ops_and_are_counted),
        cmocka_unit_test(test_remote_close_local_and_from_the_peer),
        cmocka_unit_test(test_remote_refuses_select_and_bad_opts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
