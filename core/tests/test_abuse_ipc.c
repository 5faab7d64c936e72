/* test_abuse_ipc.c - kcoro/ipc.h called as a careless user would.
 *
 * Every public function of the header with NULL handles and arguments,
 * then on a live connection (mem: transport) with zero, negative, huge and
 * stale (shut down) arguments: each returns the documented negative errno
 * (or is the documented no-op) and changes nothing; a negative timeout
 * other than KC_NO_TIMEOUT acts as 0 (kcoro/base.h). The wire-status
 * mapping is defined for every int (INT_MIN included: UBSan checks it
 * under make sanitize). mk/lint-abuse.sh holds every public header to
 * having such a file. Leaks show under ASan and Valgrind.
 */
#include "kcoro.h"
#include "kcoro/ipc.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static int handler(const kc_rpc_req_t *req, void *arg, void **out, size_t *out_len)
{
    (void)req, (void)arg, (void)out, (void)out_len;
    return 0;
}

static void test_abuse_ipc_null_handles(void **state)
{
    (void)state;
    kc_ipc_server_t *srv = NULL;
    kc_ipc_conn_t *c = NULL;
    kc_rpc_router_t *r = NULL;
    kc_rpc_future_t *f = NULL;
    kc_transport_stats_t ts;
    kc_ipc_stats_t is;
    memset(&ts, 0, sizeof(ts));
    memset(&is, 0, sizeof(is));
    ts.size = sizeof(ts);
    is.size = sizeof(is);
    uint32_t id = 0;
    int rc = 0;
    void *p = NULL;
    size_t len = 0;
    assert_int_equal(kc_rpc_status_from_wire(kc_rpc_status_to_wire(0)), 0);
    assert_int_equal(kc_rpc_status_from_wire(kc_rpc_status_to_wire(-EPIPE)), -EPIPE);
    assert_int_equal(kc_rpc_router_create(NULL), -EINVAL);
    assert_int_equal(kc_rpc_router_add(NULL, 1, handler, NULL), -EINVAL);
    assert_int_equal(kc_rpc_router_create(&r), 0);
    assert_int_equal(kc_rpc_router_add(r, 1, NULL, NULL), -EINVAL);
    assert_int_equal(kc_rpc_router_add_flags(NULL, 1, handler, NULL, 0), -EINVAL);
    assert_int_equal(kc_rpc_router_add_flags(r, 1, NULL, NULL, KC_RPC_INLINE), -EINVAL);
    assert_int_equal(kc_rpc_router_add_flags(r, 1, handler, NULL, 2), -EINVAL);
    assert_int_equal(kc_rpc_router_add_flags(r, 1, handler, NULL, ~0u), -EINVAL);
    assert_int_equal(kc_rpc_router_destroy(r), 0);
    assert_int_equal(kc_rpc_router_destroy(NULL), 0);
    assert_int_equal(kc_ipc_listen(NULL, "mem:abuse-ipc", NULL), -EINVAL);
    assert_int_equal(kc_ipc_listen(&srv, NULL, NULL), -EINVAL);
    assert_int_equal(kc_ipc_accept(NULL, &c, 0, NULL), -EINVAL);
    assert_int_equal(kc_ipc_server_stats(NULL, &ts), -EINVAL);
    assert_int_equal(kc_ipc_server_close(NULL), 0);
    assert_int_equal(kc_ipc_connect(NULL, "mem:abuse-ipc", NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_ipc_shutdown(NULL, INT64_MAX, NULL), -EINVAL);
    assert_int_equal(kc_ipc_close(NULL), 0);
    assert_int_equal(kc_ipc_wait_dead(NULL, -5, NULL), -EINVAL);
    assert_int_equal(kc_ipc_stats(NULL, &is), -EINVAL);
    assert_int_equal(kc_rpc_send_async(NULL, 1, 0, NULL, 0, &id, &f), -EINVAL);
    assert_int_equal(kc_rpc_send_timed(NULL, 1, 0, NULL, 0, INT64_MIN, NULL, &id, &f), -EINVAL);
    assert_int_equal(kc_rpc_await(NULL, 0, NULL, &rc, &p, &len), -EINVAL);
    assert_int_equal(kc_rpc_cancel(NULL), 0);
    assert_int_equal(kc_rpc_call(NULL, 1, 0, NULL, 0, INT64_MAX, NULL, &p, &len), -EINVAL);
}

/* The wire status of every int: no negation of INT_MIN (UBSan), every
 * result outside the table travels as OTHER and reads back as -EIO. */
static void test_abuse_ipc_status_to_wire_is_defined_for_every_int(void **state)
{
    (void)state;
    assert_int_equal(kc_rpc_status_to_wire(INT_MIN), KC_RPC_WIRE_OTHER);
    assert_int_equal(kc_rpc_status_to_wire(INT_MIN + 1), KC_RPC_WIRE_OTHER);
    assert_int_equal(kc_rpc_status_to_wire(-EIO), KC_RPC_WIRE_OTHER);
    assert_int_equal(kc_rpc_status_to_wire(INT_MAX), KC_RPC_WIRE_OK);
    assert_int_equal(kc_rpc_status_to_wire(1), KC_RPC_WIRE_OK);
    assert_int_equal(kc_rpc_status_to_wire(-ENOMEM), KC_RPC_WIRE_ENOMEM);
    assert_int_equal(kc_rpc_status_from_wire(KC_RPC_WIRE_OTHER), -EIO);
    assert_int_equal(kc_rpc_status_from_wire(13), -EIO); /* past the table */
    assert_int_equal(kc_rpc_status_from_wire(UINT16_MAX), -EIO);
    static const int table[] = {
        0,         -EAGAIN, -ETIME, -ECANCELED, -EPIPE,  -ECONNREFUSED, -ECONNRESET,
        -EMSGSIZE, -EPROTO, -EBUSY, -ENOTSUP,   -EINVAL, -ENOMEM};
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        assert_int_equal(kc_rpc_status_to_wire(table[i]), i);
        assert_int_equal(kc_rpc_status_from_wire(kc_rpc_status_to_wire(table[i])), table[i]);
    }
}

#define MS 1000000LL
#define CMD_ECHO 1
#define CMD_HOLD 2 /* runs until its token fires (deadline, CANCEL, end) */

static int echo(const kc_rpc_req_t *req, void *arg, void **out, size_t *out_len)
{
    (void)arg;
    if (req->len == 0)
        return 0;
    *out = malloc(req->len);
    if (*out == NULL)
        return -ENOMEM;
    memcpy(*out, req->payload, req->len);
    *out_len = req->len;
    return 0;
}

static int hold(const kc_rpc_req_t *req, void *arg, void **out, size_t *out_len)
{
    (void)arg, (void)out, (void)out_len;
    return kc_sched_sleep(INT64_MAX, req->cancel); /* -ECANCELED once it fires */
}

struct dialer {
    const char *url;
    kc_ipc_opts_t o;
    kc_ipc_conn_t *c;
    int rc;
};

static void *dial_main(void *arg)
{
    struct dialer *d = arg;
    d->rc = kc_ipc_connect(&d->c, d->url, &d->o, 5000 * MS, NULL);
    return NULL;
}

/* A live connection over mem: from plain threads (opts.sched runs rx, tx
 * and the handlers): each call with zero, negative, huge and stale
 * arguments. */
static void test_abuse_ipc_live_connection(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    kc_rpc_router_t *r = NULL;
    assert_int_equal(kc_rpc_router_create(&r), 0);
    assert_int_equal(kc_rpc_router_add(r, CMD_ECHO, echo, NULL), 0);
    assert_int_equal(kc_rpc_router_add(r, CMD_HOLD, hold, NULL), 0);
    char url[64];
    snprintf(url, sizeof(url), "mem:abuse-ipc-%d", (int)getpid());
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = s;
    o.router = r;
    kc_ipc_opts_t small = o;
    small.size = 0; /* an opts struct that was never initialised */
    kc_ipc_server_t *srv = NULL;
    assert_int_equal(kc_ipc_listen(&srv, url, &small), -EINVAL);
    assert_int_equal(kc_ipc_listen(&srv, "nosuch:x", &o), -ENOTSUP);
    assert_int_equal(kc_ipc_listen(&srv, url, &o), 0);
    kc_ipc_conn_t *sc = NULL, *cc = NULL;
    /* nobody dials: every expired timeout tries once (-EAGAIN at once) */
    assert_int_equal(kc_ipc_accept(srv, &sc, 0, NULL), -EAGAIN);
    assert_int_equal(kc_ipc_accept(srv, &sc, -5, NULL), -EAGAIN);
    assert_int_equal(kc_ipc_accept(srv, &sc, INT64_MIN, NULL), -EAGAIN);
    assert_int_equal(kc_ipc_accept(srv, NULL, INT64_MAX, NULL), -EINVAL);
    assert_null(sc);
    assert_int_equal(kc_ipc_connect(&cc, url, &small, INT64_MAX, NULL), -EINVAL);
    assert_int_equal(kc_ipc_connect(&cc, "mem:abuse-ipc-nobody", &o, INT64_MAX, NULL),
                     -ECONNREFUSED);
    assert_int_equal(kc_ipc_connect(&cc, NULL, &o, INT64_MAX, NULL), -EINVAL);
    assert_int_equal(kc_ipc_connect(&cc, "", &o, INT64_MAX, NULL), -EINVAL);
    assert_null(cc);
    struct dialer d = {url, o, NULL, -1};
    d.o.router = NULL;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, dial_main, &d), 0);
    assert_int_equal(kc_ipc_accept(srv, &sc, INT64_MAX - 1, NULL), 0); /* saturates */
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(d.rc, 0);
    cc = d.c;

    kc_ipc_stats_t is;
    memset(&is, 0, sizeof(is));
    assert_int_equal(kc_ipc_stats(cc, &is), -EINVAL); /* size not set */
    assert_int_equal(kc_ipc_stats(cc, NULL), -EINVAL);
    is.size = sizeof(is);
    assert_int_equal(kc_ipc_stats(cc, &is), 0);
    kc_transport_stats_t ts;
    memset(&ts, 0, sizeof(ts));
    ts.size = sizeof(ts);
    assert_int_equal(kc_ipc_server_stats(srv, &ts), 0);
    assert_int_equal(ts.accepted, 1);

    /* a live connection: expired timeouts never wait (wait_dead spun before) */
    assert_int_equal(kc_ipc_wait_dead(cc, 0, NULL), -ETIME);
    assert_int_equal(kc_ipc_wait_dead(cc, -5, NULL), -ETIME);
    assert_int_equal(kc_ipc_wait_dead(cc, INT64_MIN, NULL), -ETIME);

    kc_rpc_future_t *f = NULL;
    uint32_t id = 0;
    int rc = 1;
    void *p = NULL;
    size_t len = 0;
    assert_int_equal(kc_rpc_send_async(cc, CMD_ECHO, 0, NULL, 5, &id, &f), -EINVAL);
    assert_int_equal(kc_rpc_send_async(cc, CMD_ECHO, 0, "x", SIZE_MAX, &id, &f), -EMSGSIZE);
    assert_int_equal(kc_rpc_send_async(cc, CMD_ECHO, 0, "x", 1, &id, NULL), -EINVAL);
    assert_int_equal(kc_rpc_send_timed(cc, CMD_ECHO, 0, "x", SIZE_MAX, -5, NULL, &id, &f),
                     -EMSGSIZE);
    assert_null(f);
    /* a request nobody answers yet: awaits with expired timeouts poll */
    assert_int_equal(kc_rpc_send_async(cc, CMD_HOLD, 0, NULL, 0, &id, &f), 0);
    assert_int_equal(kc_rpc_await(f, 0, NULL, &rc, &p, &len), -EAGAIN);
    assert_int_equal(kc_rpc_await(f, -5, NULL, &rc, &p, &len), -EAGAIN);
    assert_int_equal(kc_rpc_await(f, INT64_MIN, NULL, &rc, &p, &len), -EAGAIN);
    assert_int_equal(kc_rpc_cancel(f), 0); /* consumed: the handler is cancelled */
    f = NULL;
    /* a call whose deadline has run out: the handler is cancelled at once */
    assert_int_equal(kc_rpc_call(cc, CMD_HOLD, 0, NULL, 0, -5, NULL, &p, &len), -ETIME);
    assert_int_equal(kc_rpc_call(cc, CMD_HOLD, 0, NULL, 0, INT64_MIN, NULL, &p, &len), -ETIME);
    assert_null(p);
    assert_int_equal(len, 0);
    /* unknown command; a huge timeout saturates and the call completes */
    assert_int_equal(kc_rpc_call(cc, 999, 0, NULL, 0, INT64_MAX - 1, NULL, &p, &len), -ENOTSUP);
    assert_int_equal(kc_rpc_call(cc, CMD_ECHO, 0, "abc", 3, INT64_MAX / 2, NULL, &p, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(p, "abc", 3);
    free(p);
    p = NULL;
    assert_int_equal(kc_rpc_send_timed(cc, CMD_ECHO, 7, "z", 1, INT64_MAX, NULL, &id, &f), 0);
    assert_int_equal(kc_rpc_await(f, INT64_MAX - 1, NULL, &rc, &p, &len), 0);
    assert_int_equal(rc, 0);
    assert_int_equal(len, 1);
    free(p);
    p = NULL;

    /* shut down with a huge timeout (nothing in flight: at once), then
     * every call on the stale connection */
    assert_int_equal(kc_ipc_shutdown(cc, INT64_MAX, NULL), 0);
    assert_int_equal(kc_ipc_shutdown(cc, -5, NULL), 0); /* twice */
    assert_int_equal(kc_rpc_send_async(cc, CMD_ECHO, 0, "x", 1, &id, &f), -EPIPE);
    assert_int_equal(kc_rpc_send_timed(cc, CMD_ECHO, 0, "x", 1, INT64_MIN, NULL, &id, &f), -EPIPE);
    assert_int_equal(kc_rpc_call(cc, CMD_ECHO, 0, "x", 1, INT64_MAX, NULL, &p, &len), -EPIPE);
    assert_int_equal(kc_ipc_wait_dead(cc, INT64_MAX, NULL), -EPIPE);
    assert_int_equal(kc_ipc_wait_dead(cc, -5, NULL), -EPIPE);
    assert_int_equal(kc_ipc_wait_dead(sc, INT64_MAX / 2, NULL), -EPIPE); /* GOAWAY reached it */
    assert_int_equal(kc_ipc_close(cc), 0);
    assert_int_equal(kc_ipc_close(sc), 0);
    assert_int_equal(kc_ipc_server_close(srv), 0);
    assert_int_equal(kc_rpc_router_destroy(r), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_ipc_null_handles),
        cmocka_unit_test(test_abuse_ipc_status_to_wire_is_defined_for_every_int),
        cmocka_unit_test(test_abuse_ipc_live_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
