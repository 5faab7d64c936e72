/* test_mux_chan.c - remote channels keep local semantics: order, kinds, close, timeouts, loss.
 *
 * Each test exports a local channel on one end of a connected pair and
 * imports it on the other, then checks what core/docs/IPC.md's table
 * promises: elements arrive once and in order both ways, a rendezvous send
 * returns 0 only once a receiver took the element (a timed-out one is
 * withdrawn, never delivered), a close on either side reaches the other
 * after the elements sent before it, a lost connection gives -ECONNRESET,
 * and bad names and arguments are refused without side effects.
 */
#include "mux_test.h"

static void test_buffered_both_ways_in_order(void **state)
{
    (void)state;
    struct mux_env e;
    assert_int_equal(mux_env_up(&e, false, 2, 0), 0);
    kc_chan_t *local, *remote;
    assert_int_equal(kc_chan_make(&local, KC_CHAN_BUFFERED, 64, sizeof(uint64_t)), 0);
    assert_int_equal(kc_ipc_export(e.exp, "jobs", local, NULL), 0);
    assert_int_equal(kc_ipc_export(e.exp, "jobs", local, NULL), -EEXIST);
    assert_int_equal(kc_ipc_import(&remote, e.imp, "jobs", NULL, NULL), 0);
    assert_int_equal(kc_chan_capacity(remote), 64);
    assert_int_equal(kc_chan_elem_size(remote), sizeof(uint64_t));
    long n = mux_scaled(20000);
    /* importer -> exporter */
    for (long i = 0; i < n; i++) {
        uint64_t v = (uint64_t)i;
        assert_int_equal(kc_chan_send(remote, &v, 5000 * MS, NULL), 0);
        if (i % 50 == 49) { /* drain a little so the window moves */
            for (int k = 0; k < 50; k++) {
                uint64_t got;
                assert_int_equal(kc_chan_recv(local, &got, 5000 * MS, NULL), 0);
                assert_int_equal(got, (uint64_t)(i - 49 + k));
            }
        }
    }
    for (long i = n - n % 50; i < n; i++) {
        uint64_t got;
        assert_int_equal(kc_chan_recv(local, &got, 5000 * MS, NULL), 0);
        assert_int_equal(got, (uint64_t)i);
    }
    /* exporter -> importer */
    for (long i = 0; i < n; i++) {
        uint64_t v = (uint64_t)i * 3;
        assert_int_equal(kc_chan_send(local, &v, 5000 * MS, NULL), 0);
        uint64_t got;
        assert_int_equal(kc_chan_recv(remote, &got, 5000 * MS, NULL), 0);
        assert_int_equal(got, (uint64_t)i * 3);
    }
    kc_chan_snapshot_t rs = mux_snap(remote);
    assert_int_equal(rs.sends, (uint64_t)n);
    assert_int_equal(rs.receives, (uint64_t)n);
    assert_int_equal(rs.bytes_sent, (uint64_t)n * 8);
    kc_mux_stats_t is = mux_stats(e.imp), es = mux_stats(e.exp);
    assert_int_equal(is.elems_out, (uint64_t)n);
    assert_int_equal(es.elems_in, (uint64_t)n);
    assert_int_equal(is.elems_in, es.elems_out);
    assert_true(is.elems_in >= (uint64_t)n); /* prefetched ahead: at most the window more */
    assert_true(is.elems_in <= (uint64_t)n + 64);
    assert_true(es.credit_frames_out > 0);
    assert_int_equal(es.undelivered, 0);
    char buf[512];
    assert_true(kc_chan_dump(remote, buf, sizeof buf) > 0);
    assert_non_null(strstr(buf, "chan=jobs"));
    assert_int_equal(kc_chan_destroy(remote), 0);
    mux_env_down(&e);
    assert_int_equal(kc_chan_destroy(local), 0);
}

static void test_try_and_timeouts_follow_the_window(void **state)
{
    (void)state;
    struct mux_env e;
    assert_int_equal(mux_env_up(&e, false, 1, 0), 0);
    kc_chan_t *local, *remote;
    assert_int_equal(kc_chan_make(&local, KC_CHAN_BUFFERED, 4, sizeof(int)), 0);
    assert_int_equal(kc_ipc_export(e.exp, "w", local, NULL), 0);
    assert_int_equal(kc_ipc_import(&remote, e.imp, "w", NULL, NULL), 0);
    int v = 1, got;
    /* nothing to receive on another, empty channel (a receive here would
     * start the pump towards us, which empties `local` into our window) */
    kc_chan_t *empty, *remote2;
    assert_int_equal(kc_chan_make(&empty, KC_CHAN_BUFFERED, 4, sizeof(int)), 0);
    assert_int_equal(kc_ipc_export(e.exp, "e", empty, NULL), 0);
    assert_int_equal(kc_ipc_import(&remote2, e.imp, "e", NULL, NULL), 0);
    assert_int_equal(kc_chan_try_recv(remote2, &got), -EAGAIN);
    assert_int_equal(kc_chan_recv(remote2, &got, 20 * MS, NULL), -ETIME);
    /* the window is the capacity: 4 in flight; the pump moves them into
     * the local channel (capacity 4) and the window reopens: 8 in all */
    int ok = 0, full = 0;
    int64_t t0 = mux_now();
    while (ok < 8 && mux_now() - t0 < 5000 * MS) {
        if (kc_chan_try_send(remote, &v) == 0)
            ok++;
        else
            full++, mux_usleep(200);
    }
    assert_int_equal(ok, 8);
    mux_usleep(20000);
    assert_int_equal(kc_chan_try_send(remote, &v), -EAGAIN);
    assert_int_equal(kc_chan_send(remote, &v, 20 * MS, NULL), -ETIME);
    kc_cancel_t *c;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    kc_cancel_trigger(c);
    assert_int_equal(kc_chan_send(remote, &v, KC_NO_TIMEOUT, c), -ECANCELED);
    assert_int_equal(kc_chan_recv(remote2, &got, KC_NO_TIMEOUT, c), -ECANCELED);
    kc_cancel_destroy(c);
    kc_chan_snapshot_t rs = mux_snap(remote);
    assert_int_equal(rs.sends, 8);
    assert_int_equal(rs.failures.eagain, (uint64_t)full + 1);
    assert_int_equal(rs.failures.etime, 1);
    assert_int_equal(rs.failures.ecanceled, 1);
    rs = mux_snap(remote2);
    assert_int_equal(rs.failures.eagain, 1);
    assert_int_equal(rs.failures.etime, 1);
    assert_int_equal(rs.failures.ecanceled, 1);
    assert_int_equal(kc_chan_destroy(remote2), 0);
    assert_int_equal(kc_chan_destroy(remote), 0);
    mux_env_down(&e);
    assert_int_equal(kc_chan_destroy(local), 0);
    assert_int_equal(kc_chan_destroy(empty), 0);
}

struct taker {
    kc_chan_t *ch;
    int64_t delay_ns;
    int got, rc;
};

static int take_later(void *arg)
{
    struct taker *t = arg;
    kc_sched_sleep(t->delay_ns, NULL);
    t->rc = kc_chan_recv(t->ch, &t->got, 5000 * MS, NULL);
    return 0;
}

static void test_rendezvous_send_waits_for_a_receiver(void **state)
{
    (void)state;
    struct mux_env e;
    assert_int_equal(mux_env_up(&e, false, 2, 0), 0);
    kc_chan_t *local, *remote;
    assert_int_equal(kc_chan_make(&local, KC_CHAN_RENDEZVOUS, 0, sizeof(int)), 0);
    assert_int_equal(kc_ipc_export(e.exp, "rv", local, NULL), 0);
    assert_int_equal(kc_ipc_import(&remote, e.imp, "rv", NULL, NULL), 0);
    assert_int_equal(kc_chan_capacity(remote), 0);
    /* nobody receives: the send times out and the element is withdrawn */
    int v = 5;
    assert_int_equal(kc_chan_send(remote, &v, 30 * MS, NULL), -ETIME);
    int got;
    assert_int_equal(kc_chan_recv(local, &got, 30 * MS, NULL), -ETIME);
    /* a receiver that comes 30 ms later: the send returns 0 after it took it */
    struct taker t = {local, 30 * MS, 0, 99};
    kc_task_t *task;
    assert_int_equal(kc_sched_spawn(e.s, &task, take_later, &t, NULL), 0);
    int64_t t0 = mux_now();
    v = 6;
    assert_int_equal(kc_chan_send(remote, &v, 5000 * MS, NULL), 0);
    assert_true(mux_now() - t0 >= 25 * MS);
    kc_sched_join(task, NULL, KC_NO_TIMEOUT, NULL);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.got, 6);
    /* the other way: a remote receive pulls one element from a local sender */
    struct taker r = {remote, 0, 0, 99};
    assert_int_equal(kc_sched_spawn(e.s, &task, take_later, &r, NULL), 0);
    v = 7;
    assert_int_equal(kc_chan_send(local, &v, 5000 * MS, NULL), 0);
    kc_sched_join(task, NULL, KC_NO_TIMEOUT, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.got, 7);
    assert_int_equal(mux_stats(e.exp).undelivered, 0); /* the withdrawn 5 was never sent */
    assert_int_equal(mux_snap(local).receives, 2);     /* the taker's and the pump's */
    assert_int_equal(kc_chan_destroy(remote), 0);
    mux_env_down(&e);
    assert_int_equal(kc_chan_destroy(local), 0);
}

static void test_close_reaches_the_other_side_after_the_data(void **state)
{
    (void)state;
    struct mux_env e;
    assert_int_equal(mux_env_up(&e, true, 2, 0), 0);
    kc_chan_t *local, *remote;
    assert_int_equal(kc_chan_make(&local, KC_CHAN_BUFFERED, 16, sizeof(int)), 0);
    assert_int_equal(kc_ipc_export(e.exp, "c", local, NULL), 0);
    assert_int_equal(kc_ipc_import(&remote, e.imp, "c", NULL, NULL), 0);
    /* the importer sends three then closes: the exporter's receivers get
     * the three, then -EPIPE */
    for (int i = 0; i < 3; i++)
        assert_int_equal(kc_chan_send(remote, &i, 5000 * MS, NULL), 0);
    assert_int_equal(kc_chan_close(remote), 0);
    assert_true(kc_chan_is_closed(remote));
    int v = 9;
    assert_int_equal(kc_chan_send(remote, &v, 0, NULL), -EPIPE);
    int got;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kc_chan_recv(local, &got, 5000 * MS, NULL), 0);
        assert_int_equal(got, i);
    }
    assert_int_equal(kc_chan_recv(local, &got, 5000 * MS, NULL), -EPIPE);
    assert_int_equal(kc_chan_destroy(remote), 0);
    assert_int_equal(kc_chan_destroy(local), 0);

    /* the exporter's channel closes with two buffered: the importer's
     * receiver drains them, then -EPIPE; its senders get -EPIPE */
    assert_int_equal(kc_chan_make(&local, KC_CHAN_BUFFERED, 16, sizeof(int)), 0);
    assert_int_equal(kc_ipc_export(e.exp, "d", local, NULL), 0);
    assert_int_equal(kc_ipc_import(&remote, e.imp, "d", NULL, NULL), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(kc_chan_send(local, &i, 0, NULL), 0);
    assert_int_equal(kc_chan_close(local), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kc_chan_recv(remote, &got, 5000 * MS, NULL), 0);
        assert_int_equal(got, i);
    }
    assert_int_equal(kc_chan_recv(remote, &got, 5000 * MS, NULL), -EPIPE);
    assert_true(kc_chan_is_closed(remote));
    assert_int_equal(kc_chan_send(remote, &v, 5000 * MS, NULL), -EPIPE);
    assert_int_equal(kc_chan_destroy(remote), 0);
    assert_int_equal(kc_ipc_unexport(e.exp, "d"), 0);
    assert_int_equal(kc_ipc_unexport(e.exp, "d"), -ENOENT);
    mux_env_down(&e);
    assert_int_equal(kc_chan_destroy(local), 0);
}

struct waiter {
    kc_chan_t *ch;
    int rc;
};

static int recv_forever(void *arg)
{
    struct waiter *w = arg;
    int v;
    w->rc = kc_chan_recv(w->ch, &v, KC_NO_TIMEOUT, NULL);
    return 0;
}

static void test_connection_loss_is_econnreset(void **state)
{
    (void)state;
    struct mux_env e;
    assert_int_equal(mux_env_up(&e, true, 2, 0), 0);
    kc_chan_t *local, *remote;
    assert_int_equal(kc_chan_make(&local, KC_CHAN_BUFFERED, 8, sizeof(int)), 0);
    assert_int_equal(kc_ipc_export(e.exp, "x", local, NULL), 0);
    assert_int_equal(kc_ipc_import(&remote, e.imp, "x", NULL, NULL), 0);
    struct waiter w = {remote, 99};
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(e.s, &t, recv_forever, &w, NULL), 0);
    mux_usleep(20000);
    kc_ipc_close(e.exp); /* the peer goes away without a word */
    e.exp = NULL;
    kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
    assert_int_equal(w.rc, -ECONNRESET);
    int v = 1;
    assert_int_equal(kc_chan_send(remote, &v, 0, NULL), -ECONNRESET);
    assert_true(kc_chan_is_closed(remote));
    assert_int_equal(kc_chan_close_reason(remote), -ECONNRESET);
    assert_int_equal(kc_ipc_import(&remote, e.imp, "x", NULL, NULL) < 0, 1);
    assert_int_equal(kc_chan_destroy(w.ch), 0);
    mux_env_down(&e);
    assert_int_equal(kc_chan_destroy(local), 0);
}

static void test_bad_names_and_arguments(void **state)
{
    (void)state;
    struct mux_env e;
    assert_int_equal(mux_env_up(&e, false, 1, 0), 0);
    kc_chan_t *local, *remote = NULL, *desc;
    assert_int_equal(kc_chan_make(&local, KC_CHAN_BUFFERED, 4, sizeof(int)), 0);
    assert_int_equal(kc_chan_make(&desc, KC_CHAN_BUFFERED, 4, 0), 0);
    assert_int_equal(kc_ipc_export(e.exp, "", local, NULL), -EINVAL);
    assert_int_equal(kc_ipc_export(e.exp, "d", desc, NULL), -EINVAL);
    assert_int_equal(kc_ipc_export(NULL, "a", local, NULL), -EINVAL);
    char longname[KC_MUX_NAME_MAX + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(kc_ipc_export(e.exp, longname, local, NULL), -EINVAL);
    assert_int_equal(kc_ipc_import(&remote, e.imp, "nothing", NULL, NULL), -ENOENT);
    assert_null(remote);
    assert_int_equal(kc_ipc_import(NULL, e.imp, "a", NULL, NULL), -EINVAL);
    kc_mux_import_opts_t io = KC_MUX_IMPORT_OPTS_INIT;
    io.size = 3;
    assert_int_equal(kc_ipc_import(&remote, e.imp, "a", &io, NULL), -EINVAL);
    assert_int_equal(kc_mux_set_conn_window(e.imp, 1000), -EINVAL);
    assert_int_equal(kc_mux_set_conn_window(e.imp, 1 << 20), -EBUSY); /* attached above */
    kc_mux_stats_t bad = {.size = 4};
    assert_int_equal(kc_mux_stats(e.imp, &bad), -EINVAL);
    assert_int_equal(mux_stats(e.imp).streams, 0);
    mux_env_down(&e);
    kc_chan_destroy(local);
    kc_chan_destroy(desc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffered_both_ways_in_order),
        cmocka_unit_test(test_try_and_timeouts_follow_the_window),
        cmocka_unit_test(test_rendezvous_send_waits_for_a_receiver),
        cmocka_unit_test(test_close_reaches_the_other_side_after_the_data),
        cmocka_unit_test(test_connection_loss_is_econnreset),
        cmocka_unit_test(test_bad_names_and_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
