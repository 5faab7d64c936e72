/* test_abuse_ipc.c - kcoro/ipc.h called as a careless user would.
 *
 * Every public function of the header with NULL handles and arguments:
 * each returns the documented negative errno (or is the documented no-op)
 * and changes nothing. mk/lint-abuse.sh holds every public header to
 * having such a file. Leaks show under ASan and Valgrind.
 */
#include "kcoro.h"
#include "kcoro/ipc.h"

#include <stdint.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_ipc_null_handles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
