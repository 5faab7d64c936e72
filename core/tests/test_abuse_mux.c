/* test_abuse_mux.c - kcoro/mux.h called as a careless user would.
 *
 * Export, unexport, import, the connection window and the counters with
 * NULL, empty, too long and unknown names, options whose size is wrong,
 * descriptor channels, zero, negative and huge windows and timeouts (by the
 * rule of kcoro/base.h: a negative handshake timeout tries once, a huge one
 * saturates), and stale use: a name unexported twice, a window set after
 * the layer started, calls on a connection whose peer has gone. Each
 * returns the errno kcoro/mux.h documents and nothing leaks (ASan,
 * Valgrind). mk/lint-abuse.sh holds every public header to such a file.
 */
#include "kcoro.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_ipc.h"

#define MS ((int64_t)1000000)

static void test_abuse_mux_bad_arguments(void **state)
{
    (void)state;
    kc_test_pair_t p;
    kc_test_pair_up(&p, "abuse-mux");
    kc_chan_t *local = kc_test_buffered(4, sizeof(long));
    kc_chan_t *desc = NULL;
    kc_chan_opts_t dopt = KC_CHAN_OPTS_INIT;
    dopt.kind = KC_CHAN_BUFFERED;
    dopt.capacity = 4;
    dopt.elem_size = 0; /* a descriptor channel */
    assert_int_equal(kc_chan_create(&desc, &dopt), 0);
    char longname[KC_MUX_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';

    /* export: NULL, empty, too long, descriptor, options too small */
    assert_int_equal(kc_ipc_export(NULL, "a", local, NULL), -EINVAL);
    assert_int_equal(kc_ipc_export(p.a, NULL, local, NULL), -EINVAL);
    assert_int_equal(kc_ipc_export(p.a, "a", NULL, NULL), -EINVAL);
    assert_int_equal(kc_ipc_export(p.a, "", local, NULL), -EINVAL);
    assert_int_equal(kc_ipc_export(p.a, longname, local, NULL), -EINVAL);
    assert_int_equal(kc_ipc_export(p.a, "d", desc, NULL), -EINVAL);
    kc_mux_export_opts_t eo = KC_MUX_EXPORT_OPTS_INIT;
    eo.size = 0;
    assert_int_equal(kc_ipc_export(p.a, "a", local, &eo), -EINVAL);
    eo.size = UINT32_MAX;   /* a larger struct from a newer header: accepted */
    eo.window = UINT32_MAX; /* huge: bounded by the connection window */
    assert_int_equal(kc_ipc_export(p.a, "a", local, &eo), 0);
    assert_int_equal(kc_ipc_export(p.a, "a", local, NULL), -EEXIST);

    /* unexport: NULL, unknown, twice */
    assert_int_equal(kc_ipc_unexport(NULL, "a"), -EINVAL);
    assert_int_equal(kc_ipc_unexport(p.a, NULL), -EINVAL);
    assert_int_equal(kc_ipc_unexport(p.a, "nope"), -ENOENT);
    assert_int_equal(kc_ipc_export(p.a, "b", local, NULL), 0);
    assert_int_equal(kc_ipc_unexport(p.a, "b"), 0);
    assert_int_equal(kc_ipc_unexport(p.a, "b"), -ENOENT); /* stale */

    /* import: NULL, empty, too long, options too small, unknown names */
    kc_chan_t *r = NULL;
    assert_int_equal(kc_ipc_import(NULL, p.b, "a", NULL, NULL), -EINVAL);
    assert_int_equal(kc_ipc_import(&r, NULL, "a", NULL, NULL), -EINVAL);
    assert_int_equal(kc_ipc_import(&r, p.b, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(kc_ipc_import(&r, p.b, "", NULL, NULL), -EINVAL);
    assert_int_equal(kc_ipc_import(&r, p.b, longname, NULL, NULL), -EINVAL);
    kc_mux_import_opts_t io = KC_MUX_IMPORT_OPTS_INIT;
    io.size = 3;
    assert_int_equal(kc_ipc_import(&r, p.b, "a", &io, NULL), -EINVAL);
    assert_null(r);
    io = (kc_mux_import_opts_t)KC_MUX_IMPORT_OPTS_INIT;
    io.timeout_ns = INT64_MAX; /* saturates: waits for the answer */
    assert_int_equal(kc_ipc_import(&r, p.b, "nope", &io, NULL), -ENOENT);
    assert_int_equal(kc_ipc_import(&r, p.b, "b", &io, NULL), -ENOENT); /* unexported */
    io.timeout_ns = -5; /* negative: tries once, and a handshake needs a round trip */
    assert_int_equal(kc_ipc_import(&r, p.b, "a", &io, NULL), -ETIME);
    io.timeout_ns = INT64_MIN;
    assert_int_equal(kc_ipc_import(&r, p.b, "a", &io, NULL), -ETIME);
    assert_null(r);
    kc_cancel_t *tok = NULL;
    assert_int_equal(kc_cancel_create(&tok, NULL), 0);
    kc_cancel_trigger(tok);
    io.timeout_ns = KC_NO_TIMEOUT;
    int rc = kc_ipc_import(&r, p.b, "a", &io, tok); /* cancelled before the answer, or opened */
    assert_true(rc == -ECANCELED || rc == 0);
    if (rc == 0)
        assert_int_equal(kc_chan_destroy(r), 0);
    r = NULL;
    kc_cancel_destroy(tok);
    io.timeout_ns = INT64_MAX - 1;
    io.window = UINT32_MAX;
    assert_int_equal(kc_ipc_import(&r, p.b, "a", &io, NULL), 0);
    long v = 42, got = 0;
    assert_int_equal(kc_chan_send(r, &v, INT64_MAX, NULL), 0);
    assert_int_equal(kc_chan_recv(local, &got, INT64_MAX, NULL), 0);
    assert_int_equal(got, 42);
    assert_int_equal(kc_chan_recv(r, &got, -5, NULL), -EAGAIN); /* expired: tries once */
    assert_int_equal(kc_chan_recv(r, &got, INT64_MIN, NULL), -EAGAIN);

    /* the window and the counters */
    assert_int_equal(kc_mux_set_conn_window(NULL, KC_MUX_CONN_WINDOW), -EINVAL);
    assert_int_equal(kc_mux_set_conn_window(p.b, 0), -EINVAL);
    assert_int_equal(kc_mux_set_conn_window(p.b, KC_MUX_CONN_MIN - 1), -EINVAL);
    assert_int_equal(kc_mux_set_conn_window(p.b, UINT32_MAX), -EBUSY); /* stale: running */
    assert_int_equal(kc_mux_set_conn_memory(NULL, KC_MUX_CONN_MIN, KC_MUX_CONN_LIMIT), -EINVAL);
    assert_int_equal(kc_mux_set_conn_memory(p.b, 0, KC_MUX_CONN_LIMIT), -EINVAL);
    assert_int_equal(kc_mux_set_conn_memory(p.b, KC_MUX_CONN_MIN - 1, UINT32_MAX), -EINVAL);
    assert_int_equal(kc_mux_set_conn_memory(p.b, KC_MUX_CONN_LIMIT, KC_MUX_CONN_MIN), -EINVAL);
    assert_int_equal(kc_mux_set_conn_memory(p.b, KC_MUX_CONN_MIN, UINT32_MAX), -EBUSY);
    kc_mux_stats_t st = {.size = 0};
    assert_int_equal(kc_mux_stats(NULL, &st), -EINVAL);
    assert_int_equal(kc_mux_stats(p.b, NULL), -EINVAL);
    assert_int_equal(kc_mux_stats(p.b, &st), -EINVAL);
    st.size = sizeof st;
    assert_int_equal(kc_mux_stats(p.b, &st), 0);
    assert_int_equal(st.elems_out, 1);
    assert_int_equal(st.streams, 1);

    /* the peer goes: calls on the dead connection */
    kc_ipc_close(p.a);
    p.a = NULL;
    assert_int_equal(kc_chan_recv(r, &got, 5000 * MS, NULL), -ECONNRESET);
    assert_int_equal(kc_chan_send(r, &v, INT64_MAX, NULL), -ECONNRESET);
    kc_chan_t *r2 = NULL;
    assert_int_equal(kc_ipc_import(&r2, p.b, "a", NULL, NULL), -ECONNRESET);
    assert_null(r2);
    assert_int_equal(kc_chan_destroy(r), 0);
    assert_int_equal(kc_ipc_export(p.b, "late", local, NULL), -EPIPE);
    st.size = sizeof st;
    assert_int_equal(kc_mux_stats(p.b, &st), 0);
    kc_test_pair_down(&p);
    kc_chan_destroy(local);
    kc_chan_destroy(desc);
}

static void test_abuse_mux_fresh_connection(void **state)
{
    (void)state;
    kc_test_pair_t p;
    kc_test_pair_up(&p, "abuse-mux");
    kc_mux_stats_t st = {.size = sizeof st};
    assert_int_equal(kc_mux_stats(p.a, &st), 0); /* attaches the layer: all zero */
    assert_int_equal(st.streams, 0);
    assert_int_equal(st.elems_in, 0);
    assert_int_equal(kc_mux_set_conn_window(p.b, UINT32_MAX), 0); /* huge: accepted */
    assert_int_equal(kc_mux_set_conn_window(p.b, KC_MUX_CONN_MIN), -EBUSY);
    assert_int_equal(kc_mux_set_conn_memory(p.a, KC_MUX_CONN_MIN, UINT32_MAX), -EBUSY);
    kc_test_pair_down(&p);
    kc_test_pair_up(&p, "abuse-mux");
    /* huge limit accepted; window and limit both saturated too */
    assert_int_equal(kc_mux_set_conn_memory(p.a, KC_MUX_CONN_MIN, UINT32_MAX), 0);
    assert_int_equal(kc_mux_set_conn_memory(p.b, UINT32_MAX, UINT32_MAX), 0);
    assert_int_equal(kc_mux_stats(p.a, &st), 0);
    assert_int_equal(st.conn_window, KC_MUX_CONN_MIN);
    assert_int_equal(st.conn_limit, UINT32_MAX);
    kc_test_pair_down(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_mux_bad_arguments),
        cmocka_unit_test(test_abuse_mux_fresh_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
